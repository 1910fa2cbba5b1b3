// The measured child of `npm run bench:finetune`: `lowburn finetune export --since 10d` as the
// image runs it — compiled JavaScript from build/ (`npm run build`), so without Node's type
// stripper (~17 MB of RSS) — printing one JSON line: seconds, peak RSS, examples. Plain
// JavaScript on purpose: a .ts entry point would load the stripper into the measured process.
//
// node --max-semi-space-size=8 bench/finetune-export.mjs <database url> <storage root> <ollama url>

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [url, storageRoot, ollamaUrl] = process.argv.slice(2);
const build = new URL('../build/', import.meta.url);
const load = (file) => import(new URL(file, build).href);

const work = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-finetune-'));
const [
  { loadConfig },
  { exportFinetune },
  { resolveFinetuneRequest },
  { createLogger },
  storageMod,
] = await Promise.all([
  load('shared/config/load-config.js'),
  load('jobs/export-finetune/export-finetune.js'),
  load('jobs/export-finetune/request.js'),
  load('shared/log/logger.js'),
  load('shared/storage/file-storage.js'),
]);
const config = loadConfig({
  ...process.env,
  NODE_ENV: 'production',
  DATABASE_URL: url,
  REDIS_URL: 'redis://127.0.0.1:6379',
  STORAGE_URL: `file:${storageRoot}`,
  COLD_CACHE_DIR: path.join(work, 'cache'),
  EXPORT_WORK_DIR: path.join(work, 'work'),
  OLLAMA_URL: ollamaUrl,
});
const storage = new storageMod.FileStorage({ root: storageRoot });
try {
  // Where the time and the memory go: each stage's start and the RSS peak within it.
  const stages = [];
  const mark = (stage) => {
    if (stages.at(-1)?.stage !== stage) {
      stages.push({ stage, at: performance.now(), rssMb: 0, heapMb: 0 });
    }
  };
  const sampler = setInterval(() => {
    const last = stages.at(-1);
    const memory = process.memoryUsage();
    if (last) last.rssMb = Math.max(last.rssMb, memory.rss / 1e6);
    if (last) last.heapMb = Math.max(last.heapMb, memory.heapTotal / 1e6);
  }, 50);
  const started = performance.now();
  mark('model');
  const manifest = await exportFinetune({
    config,
    storage,
    log: createLogger({ level: 'silent' }),
    request: resolveFinetuneRequest({ since: '10d' }, config, new Date()),
    onProgress: (p) => mark(p.stage),
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const round = (n) => Math.round(n * 100) / 100;
  const timeline = stages.map((s, i) => ({
    stage: s.stage,
    s: round(((stages[i + 1]?.at ?? performance.now()) - s.at) / 1000),
    rss_mb: Math.round(s.rssMb),
    heap_mb: Math.round(s.heapMb),
  }));
  process.stderr.write(`  ${JSON.stringify({ timeline, counts: manifest.counts })}\n`);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ seconds, peakRssMb, examples: manifest.counts.written }));
} finally {
  await rm(work, { recursive: true, force: true });
}
