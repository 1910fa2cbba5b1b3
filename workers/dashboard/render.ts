import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ChartSpec } from './charts.ts';
import { count, formatCell, share, usd } from './format.ts';
import type { DashboardFacts } from './load.ts';
import type { Table, TableName } from './tables.ts';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** JSON safe inside a `<script>` element: no `</script>` or comment can close it early. */
const scriptJson = (value: unknown) =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/** A chart: its canvas, and its data as a JSON block `dashboard.js` reads (no inline script). */
function chart(id: string, spec: ChartSpec | undefined, caption?: string): Html {
  return html`${caption ? html`<h4>${caption}</h4>` : ''}<div class="chart ${caption ? 'small' : 'wide'}">
      <canvas id="chart-${id}" data-chart="${id}" role="img" aria-label="${id} chart"></canvas>
      <script type="application/json" id="data-${id}">${raw(scriptJson(spec ?? null))}</script>
    </div>`;
}

function table(name: TableName, t: Table, open = true): Html {
  const body = html`<div class="scroll"><table class="data" id="table-${name}">
      <thead><tr>${t.columns.map((c) => html`<th class="${c.format}">${c.label}</th>`)}</tr></thead>
      <tbody>
        ${t.rows.map(
          (row) =>
            html`<tr>${t.columns.map(
              (c, i) => html`<td class="${c.format}">${formatCell(c, row[i] ?? null, row, t)}</td>`,
            )}</tr>`,
        )}
      </tbody>
    </table></div>`;
  const csv = html`<a class="csv" href="/dashboard/${name}.csv" download>CSV</a>`;
  return open
    ? html`<div class="table-head"><h3>${t.title}</h3>${csv}</div>${body}`
    : html`<details><summary>${t.title} (${t.rows.length} rows)</summary>${csv}${body}</details>`;
}

/** A figure with its label; `exact` keeps the stored number beside the rounded text. */
const tile = (label: string, value: string, note: string, tone = '', exact?: string | null) =>
  html`<div class="tile ${tone}"><div class="label">${label}</div><div class="value" data-value="${exact ?? ''}">${value}</div><div class="note">${note}</div></div>`;

/** The dashboard page: seven panels, server-rendered; charts drawn by served scripts. */
export function renderPage(
  f: DashboardFacts,
  tables: Record<TableName, Table>,
  charts: Record<string, ChartSpec>,
): Html {
  const y = f.days.find((d) => d.day === f.yesterday);
  const cpau = y?.cpau ?? null;
  const tone =
    cpau === null
      ? ''
      : cpau > f.cpauTargetUsd
        ? 'bad'
        : cpau > 0.8 * f.cpauTargetUsd
          ? 'warn'
          : 'good';
  const withCpau = f.days.filter((d) => d.cpau !== null);
  const mean = withCpau.length
    ? withCpau.reduce((a, d) => a + (d.cpau ?? 0), 0) / withCpau.length
    : null;
  const total30 = f.days.reduce((a, d) => a + d.total, 0);
  const run = f.precompute.at(-1);
  const audit = f.audits.at(-1);
  const failed = f.queues.reduce((a, q) => a + q.failed, 0);
  const lag = f.queues.reduce((a, q) => Math.max(a, q.lagS), 0);
  const buffer = f.telemetry.cap > 0 ? f.telemetry.depth / f.telemetry.cap : 0;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lowburn · cost per active user</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css"></head>
<body>
<header><h1>lowburn <span>cost per active user</span></h1>
<p>Yesterday ${f.yesterday} (UTC) · ${f.days.length} days rolled up · <a href="/queues">queues</a></p></header>
<main>
<section class="panel span-2" id="panel-cpau"><h2>1 · CPAU against the band</h2>
<div class="tiles">
${tile('CPAU yesterday', usd(cpau), `target ≤ ${usd(f.cpauTargetUsd)}`, `cpau ${tone}`, y?.cpauText)}
${tile('Total cost yesterday', usd(y?.total ?? null), `${count(y?.activeUsers ?? null)} active users`)}
${tile('CPAU, 30-day mean', usd(mean), `${f.days.length} days`)}
${tile('Cost, 30 days', usd(total30), 'all components')}
</div>${chart('cpau', charts.cpau)}${table('cost', tables.cost, false)}</section>
<section class="panel" id="panel-split"><h2>2 · Cost split per day</h2>${chart('cost-split', charts['cost-split'])}</section>
<section class="panel" id="panel-per-user"><h2>3 · Per active user per day</h2>
<div class="trio"><div>${chart('per-user-tokens', charts['per-user-tokens'], 'Tokens')}</div><div>${chart('per-user-writes', charts['per-user-writes'], 'DB writes')}</div><div>${chart('per-user-calls', charts['per-user-calls'], 'API calls')}</div></div>
${table('per-user', tables['per-user'], false)}</section>
<section class="panel" id="panel-cache"><h2>4 · Caches and the model</h2>
<div class="tiles">
${tile('Precompute coverage', share(run && run.candidates > 0 ? run.covered / run.candidates : null), run ? `${run.day}: ${run.covered} of ${run.candidates} keys` : 'no run yet')}
${tile('Audit false-hit rate', share(audit && audit.judged > 0 ? audit.falseHits / audit.judged : null), audit ? `${audit.day}: ${audit.falseHits} of ${audit.judged} judged` : 'no audit yet')}
</div>${chart('cache', charts.cache)}${table('cache', tables.cache)}</section>
<section class="panel" id="panel-top-users"><h2>5 · Top users by cost</h2>${chart('top-users', charts['top-users'])}${table('top-users', tables['top-users'])}</section>
<section class="panel span-2" id="panel-operations"><h2>6 · Failures, queues and the nightly jobs</h2>
<div class="tiles">
${tile('Failed jobs', count(failed), 'kept in the queues', failed > 0 ? 'warn' : 'good')}
${tile('Dead letters', count(f.deadLetters.total), `${f.deadLetters.lastDay} in the last 24 h`, f.deadLetters.lastDay > 0 ? 'bad' : 'good')}
${tile('Queue lag', `${lag} s`, 'oldest waiting job', lag > 60 ? 'bad' : 'good')}
${tile('Telemetry buffer', count(f.telemetry.depth), `of ${count(f.telemetry.cap)} (${share(buffer)})`, buffer > 0.5 ? 'bad' : 'good')}
</div>
<div class="two">${chart('queues', charts.queues)}<div>${table('queues', tables.queues)}</div></div>
${table('nightly', tables.nightly)}</section>
<section class="panel span-2" id="panel-headroom"><h2>7 · Headroom</h2>
<div class="two">${chart('headroom', charts.headroom)}<div>${table('headroom', tables.headroom)}</div></div></section>
</main>
<script src="/dashboard/assets/chart.umd.min.js"></script>
<script src="/dashboard/assets/dashboard.js"></script>
</body></html>`;
}
