import path from 'node:path';
import { Ollama } from 'ollama';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FinetuneManifest } from '../../shared/finetune/manifest.ts';
import { testExportOptions } from '../../test/fixtures/cold.ts';
import { useFinetuneExport } from '../../test/fixtures/finetune.ts';
import { recordPair } from '../../test/fixtures/generations.ts';
import { LLAMA32_TEMPLATE, TEST_SYSTEM } from '../../test/fixtures/model-show.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import { isValidation, promptKey as keyOf } from './examples.ts';
import { checkJsonl } from './validate.ts';

const DAY = 86_400_000;
const now = Date.now();
const cold = (minute: number) => new Date(now - 3 * DAY + minute * 60_000);
const hot = (minute: number) => new Date(now - 90 * 60_000 + minute * 60_000);
const today = new Date(now).toISOString().slice(0, 10);

/** A chat line as the export writes it. */
const line = (...turns: [string, string][]) =>
  JSON.stringify({ messages: turns.map(([role, content]) => ({ role, content })) });
const promptKey = (l: string) =>
  keyOf((JSON.parse(l) as { messages: { role: 'user'; content: string }[] }).messages.slice(0, -1));

describe('export-finetune', () => {
  const h = useFinetuneExport();
  const db = () => h.database.db;

  beforeAll(async () => {
    // Three days ago, exported to cold Parquet below: two fallback pairs, the older spelling of
    // a conversation asked again today, and rows that are never training data.
    await recordPair(db(), {
      at: cold(0),
      prompt: 'Summarise ticket 1: printer jams',
      answer: 'Printer jams on tray 2.',
    });
    await recordPair(db(), {
      at: cold(1),
      prompt: 'Summarise ticket 2: login loop',
      answer: 'Login loops after a reset.',
      fallbackReason: 'timeout',
    });
    await recordPair(db(), {
      at: cold(2),
      prompt: 'Summarise  ticket 3:\nrefund   late',
      answer: 'An older answer.',
    });
    await recordPair(db(), { at: cold(3), prompt: 'Summarise ticket 4: failed', status: 'failed' });
    await recordPair(db(), { at: cold(4), prompt: 'Summarise ticket 5: local', route: 'local' });
    await recordPair(db(), {
      at: cold(5),
      prompt: 'Summarise ticket 6: routed',
      route: 'frontier',
    });
    await recordPair(db(), { at: cold(6), prompt: 'Summarise ticket 7: cached', layer: 'exact' });
    await exportCold(
      testExportOptions(h.database, h.storage, path.join(h.dir, 'export'), {
        tables: ['generations'],
      }),
    );
    // Today, still in Postgres: the newer answer to ticket 3, a multi-turn chat with a system
    // prompt, a template request, eight more pairs, and a failed one.
    await recordPair(db(), {
      at: hot(0),
      prompt: 'Summarise ticket 3: refund late',
      answer: 'The refund is late.',
      fallbackReason: 'invalid',
    });
    await recordPair(db(), {
      at: hot(1),
      messages: [
        { role: 'system', content: 'You summarise support tickets.' },
        { role: 'user', content: 'Ticket 8: the app crashes' },
        { role: 'assistant', content: 'Which version?' },
        { role: 'user', content: 'Version 2.1' },
      ],
      answer: 'App 2.1 crashes.',
    });
    await recordPair(db(), {
      at: hot(2),
      template: 'ticket-triage',
      params: { subject: 'Card declined', body: 'Twice today.' },
      answer: 'billing',
    });
    for (let i = 9; i <= 16; i++) {
      await recordPair(db(), {
        at: hot(2 + i),
        prompt: `Summarise ticket ${i}: item ${i} missing`,
        answer: `Item ${i} is missing.`,
      });
    }
    await recordPair(db(), {
      at: hot(30),
      prompt: 'Summarise ticket 17: failed',
      status: 'failed',
    });
  });

  describe('a round trip from hot and cold rows', () => {
    let manifest: FinetuneManifest;
    const prefix = `finetune/summary/${today}/`;
    beforeAll(async () => {
      manifest = await h.run({ task: 'summary', since: '7d' });
    });

    // What was asked, every turn, plus the answer; ticket 3 in its newest spelling and answer.
    const expected = [
      ...[16, 15, 14, 13, 12, 11, 10, 9].map((i) =>
        line(
          ['user', `Summarise ticket ${i}: item ${i} missing`],
          ['assistant', `Item ${i} is missing.`],
        ),
      ),
      line(
        [
          'user',
          'Classify this support ticket as one of billing, bug, feature-request, account, other. Answer with the label only.\nSubject: Card declined\nTwice today.',
        ],
        ['assistant', 'billing'],
      ),
      line(
        ['system', 'You summarise support tickets.'],
        ['user', 'Ticket 8: the app crashes'],
        ['assistant', 'Which version?'],
        ['user', 'Version 2.1'],
        ['assistant', 'App 2.1 crashes.'],
      ),
      line(['user', 'Summarise ticket 3: refund late'], ['assistant', 'The refund is late.']),
      line(['user', 'Summarise ticket 2: login loop'], ['assistant', 'Login loops after a reset.']),
      line(['user', 'Summarise ticket 1: printer jams'], ['assistant', 'Printer jams on tray 2.']),
    ];

    it('writes exactly the fallback pairs, each on the side its prompt hashes to', async () => {
      expect((await h.lines(`${prefix}train.jsonl`)).sort()).toEqual(
        expected.filter((l) => !isValidation(promptKey(l))).sort(),
      );
      expect((await h.lines(`${prefix}validation.jsonl`)).sort()).toEqual(
        expected.filter((l) => isValidation(promptKey(l))).sort(),
      );
    });

    it('counts every stage and lists every file with its SHA-256', async () => {
      expect(manifest.source).toMatchObject({ task: 'summary', include: [] });
      expect(manifest.source.coldFiles).toBeGreaterThan(0);
      // Only rows the export reads leave Postgres: 11 pairs of today, not the failed one.
      expect(manifest.source.hotRows).toBe(11);
      expect(manifest.counts).toMatchObject({
        read: 14,
        readByKind: { fallback_error: 12, fallback_timeout: 1, fallback_invalid: 1 },
        deduped: 13,
        written: 13,
        dropped: { unreadableRequest: 0, secret: {}, duplicateAfterScrub: 0, overMaxTokens: 0 },
        writtenByKind: { fallback_error: 11, fallback_timeout: 1, fallback_invalid: 1 },
      });
      const { train, validation } = manifest.counts.split;
      expect(train + validation).toBe(13);
      expect(manifest.files.map((f) => f.key)).toEqual([
        `${prefix}train.jsonl`,
        `${prefix}validation.jsonl`,
        `${prefix}Modelfile`,
      ]);
      for (const file of manifest.files) {
        const info = await h.storage.head(file.key);
        expect(info).toMatchObject({ size: file.bytes, sha256: file.sha256 });
      }
      expect(JSON.parse((await h.read(`${prefix}manifest.json`)) ?? '')).toEqual(manifest);
      expect(manifest.localModel).toMatchObject({ name: 'llama3.2:3b', version: '1' });
      expect(manifest.lowburnVersion).toMatch(/^\d+\.\d+\.\d+/);
    });

    it('reports token distributions and the billing estimate', () => {
      const { train } = manifest.tokens;
      expect(train.perExample?.min).toBeGreaterThan(10);
      expect(train.perExample?.max).toBeGreaterThanOrEqual(train.perExample?.p90 ?? 0);
      expect(train.messagesPerExample?.max).toBe(5);
      // Under 100 example-epochs the cookbook's default rule trains longer: 100 // n epochs.
      const n = manifest.counts.split.train;
      expect(manifest.tokens.billing).toEqual({
        epochs: Math.floor(100 / n),
        billingTokensPerEpoch: train.total,
        billedTokens: Math.floor(100 / n) * train.total,
      });
    });

    it("writes a Modelfile with the base model's template, stop tokens and system prompt", async () => {
      const { models } = await new Ollama({ host: h.ollama.url }).list();
      const digest = models.find((m) => m.name === 'llama3.2:3b')?.digest;
      expect(manifest.localModel.digest).toBe(digest);
      const modelfile = (await h.read(`${prefix}Modelfile`)) ?? '';
      // After the header comments, the instructions, byte for byte.
      expect(modelfile.slice(modelfile.indexOf('\nFROM ') + 1)).toBe(
        [
          'FROM llama3.2:3b',
          'ADAPTER ./adapter',
          `TEMPLATE """${LLAMA32_TEMPLATE}"""`,
          'PARAMETER stop "<|start_header_id|>"',
          'PARAMETER stop "<|end_header_id|>"',
          'PARAMETER stop "<|eot_id|>"',
          `SYSTEM """${TEST_SYSTEM}"""`,
          '',
        ].join('\n'),
      );
      expect(modelfile).toContain(`# Base digest: ${digest}`);
      expect(h.ollama.callsTo('/api/show').at(-1)?.body).toMatchObject({ model: 'llama3.2:3b' });
    });

    it('passes its own checks when read back', async () => {
      const text = (await h.read(`${prefix}train.jsonl`)) ?? '';
      expect(() => checkJsonl(text)).not.toThrow();
    });
  });

  it('adds requests routed straight to the frontier with --include frontier-routed', async () => {
    const manifest = await h.run({ task: 'summary', since: '7d', include: ['frontier-routed'] });
    expect(manifest.counts.readByKind).toMatchObject({ frontier_routed: 1 });
    const all = [
      ...(await h.lines(`finetune/summary/${today}/train.jsonl`)),
      ...(await h.lines(`finetune/summary/${today}/validation.jsonl`)),
    ];
    expect(all).toContain(
      line(
        ['user', 'Summarise ticket 6: routed'],
        ['assistant', 'answer to user: Summarise ticket 6: routed'],
      ),
    );
    expect(all.join('\n')).not.toMatch(/ticket (4|5|7|17)\b/);
  });

  it('adds shadow-validated local answers with --include local-validated: the frontier answer where they disagreed', async () => {
    for (let i = 0; i < 12; i++) {
      const id = await recordPair(db(), {
        at: hot(40 + i),
        taskType: 'classification',
        prompt: `Label ticket ${i}`,
        route: 'local',
        answer: `local label ${i}`,
      });
      await db()
        .insertInto('shadow_comparisons')
        .values({
          generation_id: id,
          task_type: 'classification',
          local_model: 'llama3.2:3b',
          frontier_model: 'gpt-4o-mini',
          agreed: i >= 2,
          similarity: i >= 2 ? 0.97 : 0.41,
          frontier_answer: `frontier label ${i}`,
        })
        .execute();
    }
    // A local answer nobody compared is not training data.
    await recordPair(db(), {
      at: hot(60),
      taskType: 'classification',
      prompt: 'Label ticket 99',
      route: 'local',
    });
    const manifest = await h.run({
      task: 'classification',
      since: '1d',
      include: ['local-validated'],
    });
    expect(manifest.counts.readByKind).toEqual({ local_agreed: 10, local_corrected: 2 });
    const all = [
      ...(await h.lines(`finetune/classification/${today}/train.jsonl`)),
      ...(await h.lines(`finetune/classification/${today}/validation.jsonl`)),
    ];
    expect(all).toHaveLength(12);
    expect(all).toContain(line(['user', 'Label ticket 0'], ['assistant', 'frontier label 0']));
    expect(all).toContain(line(['user', 'Label ticket 1'], ['assistant', 'frontier label 1']));
    expect(all).toContain(line(['user', 'Label ticket 2'], ['assistant', 'local label 2']));
    expect(all.join('\n')).not.toContain('ticket 99');
  });

  it('writes ShareGPT lines with --format sharegpt', async () => {
    await h.run({ task: 'summary', since: '7d', format: 'sharegpt' });
    const all = [
      ...(await h.lines(`finetune/summary/${today}/train.jsonl`)),
      ...(await h.lines(`finetune/summary/${today}/validation.jsonl`)),
    ];
    expect(all).toContain(
      JSON.stringify({
        conversations: [
          { from: 'human', value: 'Summarise ticket 1: printer jams' },
          { from: 'gpt', value: 'Printer jams on tray 2.' },
        ],
      }),
    );
  });

  it('fails before reading anything when Ollama cannot show the local model', async () => {
    h.ollama.script({ path: '/api/show', status: 500, error: 'no such model' });
    await expect(h.run({ task: 'summary', since: '7d' })).rejects.toThrow(
      /cannot read llama3.2:3b's template and stop tokens from Ollama at .*check OLLAMA_URL/,
    );
  });
});
