// Draws every chart of the dashboard from the JSON block beside its canvas (no inline script:
// the board's CSP allows only served scripts). Chart.js is loaded first, from the image.
(() => {
  const palette = [
    '#2563eb',
    '#f59e0b',
    '#10b981',
    '#8b5cf6',
    '#ef4444',
    '#0ea5e9',
    '#84cc16',
    '#f97316',
    '#64748b',
  ];
  const formats = {
    usd: (v) => {
      const n = Math.abs(v);
      return `$${v.toFixed(n === 0 || n >= 1 ? 2 : n >= 0.01 ? 4 : 6)}`;
    },
    share: (v) => `${(v * 100).toFixed(1)} %`,
    number: (v) => v.toLocaleString('en-US', { maximumFractionDigits: 2 }),
  };

  function config(spec) {
    const format = formats[spec.format] ?? formats.number;
    const valueAxis = {
      stacked: Boolean(spec.stacked),
      beginAtZero: true,
      ticks: { callback: (v) => format(Number(v)), maxTicksLimit: 6 },
      grid: { color: '#eef2f7' },
    };
    const labelAxis = {
      stacked: Boolean(spec.stacked),
      grid: { display: false },
      // Every queue, user and resource named; days may skip.
      ticks: { autoSkip: !spec.horizontal },
    };
    if (spec.format === 'share' && spec.horizontal) valueAxis.max = 1;
    return {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((d, i) => ({
          label: d.label,
          data: d.data,
          borderColor: palette[i % palette.length],
          backgroundColor:
            spec.type === 'bar' ? palette[i % palette.length] : `${palette[i % palette.length]}22`,
          borderDash: d.dashed ? [6, 4] : [],
          borderWidth: 2,
          pointRadius: spec.labels.length > 14 ? 0 : 2,
          spanGaps: true,
          tension: 0.25,
        })),
      },
      options: {
        indexAxis: spec.horizontal ? 'y' : 'x',
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: {
            display: spec.datasets.length > 1,
            position: 'bottom',
            labels: { boxWidth: 12, font: { size: 11 } },
          },
          tooltip: {
            callbacks: {
              label: (c) => `${c.dataset.label}: ${format(c.parsed[spec.horizontal ? 'x' : 'y'])}`,
            },
          },
        },
        scales: spec.horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      },
    };
  }

  for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
    const block = document.getElementById(`data-${canvas.dataset.chart}`);
    const spec = block ? JSON.parse(block.textContent) : null;
    if (!spec || spec.labels.length === 0) {
      canvas.parentElement.classList.add('empty');
      continue;
    }
    new window.Chart(canvas, config(spec));
    canvas.parentElement.classList.add('drawn');
  }
})();
