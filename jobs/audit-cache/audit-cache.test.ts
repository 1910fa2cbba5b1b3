import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utcDay } from '../../shared/db/partitions.ts';
import { auditCacheQueue } from '../../shared/generation/audit-cache-queue.ts';
import { type SeedGeneration, seedGenerations } from '../../test/fixtures/generations.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { watchQueue } from '../../test/fixtures/queue-watch.ts';
import { auditCacheJob, dayBefore } from './index.ts';

/** What the worker logs, one parsed JSON object per line. */
function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, stream) };
}

const DAY = '2026-11-20';
const at = (minute: number) => `${DAY}T08:${String(minute % 60).padStart(2, '0')}:00Z`;
const schema = {
  type: 'object',
  properties: { name: { type: 'string' }, amount: { type: 'number' } },
  required: ['name', 'amount'],
};

// The local model's fresh answer to each seeded prompt (`undefined`: it fails with a 500).
const fresh = new Map<string, string | undefined>();
const seeded: SeedGeneration[] = [];
/** A semantic hit of DAY that served `served`, and what the local model answers when asked again. */
function semanticHit(hit: {
  id: string;
  taskType: 'summary' | 'extraction';
  prompt: string;
  served: string;
  fresh: string | undefined;
}) {
  fresh.set(hit.prompt, hit.fresh);
  const request = hit.taskType === 'extraction' ? { responseFormat: schema } : {};
  seeded.push({
    id: hit.id,
    at: at(seeded.length),
    taskType: hit.taskType,
    request: { prompt: hit.prompt, ...request },
    response: hit.served,
  });
}

// summary (text): 17 right (two reworded: the same tokens to the embedder), 3 false, 1 the model
// cannot answer → 3 of 20 judged, 15 %, above the 5 % threshold.
for (let i = 0; i < 17; i++) {
  const answer = `Memo ${i} asks for a large budget for the data team.`;
  const reworded = `The memo ${i} asks for a big budget for the data team`;
  const [id, prompt] = [`s-right-${i}`, `Summarise memo ${i}`];
  semanticHit({
    id,
    taskType: 'summary',
    prompt,
    served: i < 2 ? reworded : answer,
    fresh: answer,
  });
}
for (let i = 0; i < 3; i++) {
  const [id, prompt] = [`s-false-${i}`, `Summarise report ${i}`];
  const served = 'Paris is the capital of France.';
  semanticHit({ id, taskType: 'summary', prompt, served, fresh: `Report ${i}: sales rose.` });
}
const broken = { id: 's-broken', prompt: 'Summarise the broken memo', served: 'Anything.' };
semanticHit({ ...broken, taskType: 'summary', fresh: undefined });
// extraction (JSON): 24 right (half with their keys in another order), 1 false → 4 %, below.
for (let i = 0; i < 24; i++) {
  const answer = JSON.stringify({ name: `Invoice ${i}`, amount: i });
  const reordered = JSON.stringify({ amount: i, name: `Invoice ${i}` });
  const [id, prompt] = [`e-right-${i}`, `Extract invoice ${i}`];
  semanticHit({
    id,
    taskType: 'extraction',
    prompt,
    served: i % 2 ? reordered : answer,
    fresh: answer,
  });
}
semanticHit({
  id: 'e-false',
  taskType: 'extraction',
  prompt: 'Extract invoice 99',
  served: '{"amount":12,"name":"Invoice 99"}',
  fresh: '{"name":"Invoice 99","amount":13}',
});

describe('the audit-cache job, through a real worker', () => {
  const database = useTestDatabase();
  const { lines, log } = captureLog();
  let ollama: ModelTestServer;
  beforeAll(async () => {
    ollama = await startOllamaServer();
    ollama.handle((call) => {
      if (call.path !== '/api/chat') return undefined;
      const prompt = String(call.body?.messages?.at(-1)?.content ?? '');
      const answer = fresh.get(prompt);
      return answer === undefined ? { status: 500, error: 'model crashed' } : { content: answer };
    });
    await seedGenerations(database.db, [
      ...seeded,
      // Not semantic hits of the day: never audited.
      { id: 'exact-1', at: at(50), request: { prompt: 'p' }, response: 'a', layer: 'exact' },
      { id: 'failed-1', at: at(51), request: { prompt: 'p' }, response: 'a', status: 'failed' },
      { id: 'other-day', at: '2026-11-21T08:00:00Z', request: { prompt: 'p' }, response: 'a' },
    ]);
  });
  const worker = useJobWorker(
    database,
    { 'audit-cache': auditCacheJob },
    () => ({ OLLAMA_URL: ollama.url, AUDIT_SAMPLE_RATE: '1' }),
    { log },
  );
  afterAll(async () => {
    await ollama?.close();
  });

  describe('auditing days', () => {
    let watch: Awaited<ReturnType<typeof watchQueue>>;
    beforeAll(async () => {
      watch = await watchQueue(worker.redis, worker.prefix, 'audit-cache');
    });
    afterAll(async () => {
      await watch?.close();
    });

    const audit = async (payload: { day?: string }) => {
      const job = await watch.queues.add(auditCacheQueue, payload);
      return { id: job.id, result: await job.waitUntilFinished(watch.events, 30_000) };
    };
    const rows = (day: string) =>
      database.db
        .selectFrom('cache_audits')
        .selectAll()
        .where('day', '=', day)
        .orderBy('task_type')
        .execute();

    describe('a day of seeded semantic hits with known false hits', () => {
      let audited: Awaited<ReturnType<typeof audit>>;
      beforeAll(async () => {
        audited = await audit({ day: DAY });
      });

      it('measures the false-hit rate per task type with its Wilson interval, and stores it', async () => {
        const { id, result } = audited;
        expect(result).toMatchObject({
          day: DAY,
          semanticHits: 46,
          sampled: 46,
          nothingToAudit: false,
        });
        expect(result.tasks).toEqual([
          expect.objectContaining({
            taskType: 'extraction',
            semanticHits: 25,
            sampled: 25,
            sampleSize: 25,
            falseHits: 1,
            inconclusive: 0,
            rate: 0.04,
            aboveThreshold: false,
          }),
          expect.objectContaining({
            taskType: 'summary',
            semanticHits: 21,
            sampled: 21,
            sampleSize: 20,
            falseHits: 3,
            inconclusive: 1,
            rate: 0.15,
            aboveThreshold: true,
          }),
        ]);
        const [extraction, summary] = await rows(DAY);
        expect(summary).toMatchObject({
          task_type: 'summary',
          semantic_hits: 21,
          sampled: 21,
          sample_size: 20,
          false_hits: 3,
          false_hit_rate: 0.15,
          min_similarity: 0.9,
          max_false_hit: 0.05,
          job_id: id,
        });
        expect(summary?.ci_low).toBeCloseTo(0.0523687, 6);
        expect(summary?.ci_high).toBeCloseTo(0.3604189, 6);
        expect(extraction).toMatchObject({ sample_size: 25, false_hits: 1, false_hit_rate: 0.04 });
        expect(extraction?.ci_low).toBeCloseTo(0.0070962, 6);
        expect(extraction?.ci_high).toBeCloseTo(0.1954406, 6);
      });

      it('warns about the task type above SEMANTIC_MAX_FALSE_HIT, naming the threshold to raise', () => {
        const warnings = lines.filter((l) => l.level === 40 && l.queue === 'audit-cache');
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatchObject({ taskType: 'summary', rate: 0.15, threshold: 0.05 });
        expect(warnings[0]?.msg).toBe(
          'semantic cache false-hit rate of task type "summary" on 2026-11-20 is 15.0 % (95 % CI 5.2 %–36.0 %, 3 of 20 judged), ' +
            'above SEMANTIC_MAX_FALSE_HIT 5.0 %: raise SEMANTIC_MIN_SCORE for "summary" above its 0.95, ' +
            `e.g. SEMANTIC_MIN_SCORE='{"*":0.95,"summary":0.97}'`,
        );
        const infos = lines.filter((l) => l.level === 30).map((l) => l.msg);
        expect(infos).toContain(
          'extraction: semantic false-hit rate 4.0 % (95 % CI 0.7 %–19.5 %, 1 of 25 judged)',
        );
        expect(infos).toContain('audited 46 of 46 semantic hits on 2026-11-20');
      });

      it('asks only the local model, once per sampled hit, and writes no cache', async () => {
        expect(ollama.callsTo('/api/chat')).toHaveLength(46);
        // Text answers are compared by their embeddings; JSON answers need none.
        expect(ollama.callsTo('/api/embed')).toHaveLength(20);
        expect(await worker.redis.keys(`${worker.prefix}:cache:*`)).toEqual([]);
      });

      it('exports the rates and their intervals as metrics', async () => {
        const page = await worker.metrics();
        expect(page).toMatch(/^lowburn_cache_audit_false_hit_rate\{task_type="summary"\} 0\.15$/m);
        expect(page).toMatch(
          /^lowburn_cache_audit_false_hit_rate\{task_type="extraction"\} 0\.04$/m,
        );
        expect(page).toMatch(
          /^lowburn_cache_audit_false_hit_rate_high\{task_type="summary"\} 0\.36/m,
        );
        expect(page).toMatch(/^lowburn_cache_audit_sample_size\{task_type="summary"\} 20$/m);
        expect(page).toMatch(/^lowburn_cache_audit_warnings_total\{task_type="summary"\} 1$/m);
      });

      it('replaces the day’s rows when the day is audited again', async () => {
        const { id } = await audit({ day: DAY });
        const again = await rows(DAY);
        expect(again.map((r) => [r.task_type, r.false_hits, r.job_id])).toEqual([
          ['extraction', 1, id],
          ['summary', 3, id],
        ]);
      });
    });

    it('says there is nothing to audit on a day without semantic hits, and stores no row', async () => {
      await seedGenerations(database.db, [
        {
          id: 'quiet-exact',
          at: '2026-11-23T09:00:00Z',
          request: { prompt: 'p' },
          response: 'a',
          layer: 'exact',
        },
      ]);
      const { result } = await audit({ day: '2026-11-23' });
      expect(result).toEqual({
        day: '2026-11-23',
        semanticHits: 0,
        sampled: 0,
        tasks: [],
        nothingToAudit: true,
      });
      expect(await rows('2026-11-23')).toEqual([]);
      expect(lines.map((l) => l.msg)).toContain('no semantic hits on 2026-11-23: nothing to audit');
    });

    it('audits the UTC day before it was enqueued when no day is given', async () => {
      const before = Date.now();
      const { result } = await audit({});
      expect([dayBefore(new Date(before)), utcDay(new Date(), -1)]).toContain(result.day);
      expect(dayBefore(new Date('2026-11-21T02:30:00+01:00'))).toBe('2026-11-20');
    });
  });
});
