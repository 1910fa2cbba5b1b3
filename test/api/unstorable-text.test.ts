import { describe, expect, it } from 'vitest';
import { useTestApi } from '../fixtures/api-server.ts';

const valid = { userId: 'user-1', taskType: 'summary', prompt: 'Summarise: the cat sat.' };
const ping = {
  pingId: '0190f3a4-0000-7000-8000-000000000001',
  deviceId: 'device-1',
  ts: new Date().toISOString(),
  metric: 'battery',
  value: 0.5,
};

/** `json` with the bytes of `marker` (a quoted ASCII string in it) replaced by `bytes`. */
function withBytes(json: unknown, marker: string, bytes: number[]): Buffer {
  const text = Buffer.from(JSON.stringify(json));
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`no ${marker} in the body`);
  return Buffer.concat([
    text.subarray(0, at),
    Buffer.from(bytes),
    text.subarray(at + marker.length),
  ]);
}

/**
 * Text Postgres cannot store is refused at the door, on every route and in every string field,
 * nested ones and object keys included: once queued it could never be written.
 */
describe('text Postgres cannot store', () => {
  const t = useTestApi();
  const raw = (path: string, key: string, body: Buffer | string) =>
    t.api.request(path, {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/json' },
      body,
    });
  const error = async (res: Response) =>
    ((await res.json()) as { error: { code: string; message: string; field?: string } }).error;
  const queued = async (name: string) => (await t.queue(name).getJobCounts()).waiting ?? 0;

  it('refuses a body that is not UTF-8 with 400, on generations and telemetry', async () => {
    const { key } = await t.api.key(['generate', 'telemetry']);
    const generation = await raw('/v1/generations', key, withBytes(valid, 'the cat', [0xff, 0xfe]));
    expect(generation.status).toBe(400);
    expect(await error(generation)).toMatchObject({
      code: 'invalid_json',
      message: expect.stringContaining('not valid UTF-8'),
    });
    const telemetry = await raw('/v1/telemetry', key, withBytes(ping, 'device-1', [0x64, 0xff]));
    expect(telemetry.status).toBe(400);
    expect((await error(telemetry)).message).toContain('not valid UTF-8');
    // An encoded surrogate (CESU-8) is not UTF-8 either.
    const cesu = await raw('/v1/generations', key, withBytes(valid, 'the cat', [0xed, 0xa0, 0x80]));
    expect(cesu.status).toBe(400);
    expect(await queued('generate')).toBe(0);
  });

  it.each([
    ['prompt', { ...valid, prompt: 'a\u0000b' }, 'prompt', 'NUL'],
    ['prompt', { ...valid, prompt: 'a\ud800b' }, 'prompt', 'lone surrogate'],
    [
      'a message',
      {
        userId: 'u',
        taskType: 'summary',
        messages: [
          { role: 'user', content: 'fine' },
          { role: 'assistant', content: 'x\udfffy' },
        ],
      },
      'messages.1.content',
      'lone surrogate',
    ],
    [
      'a template parameter',
      {
        userId: 'u',
        taskType: 'formatting',
        template: 'product-title',
        params: { product: '\u0000' },
      },
      'params.product',
      'NUL',
    ],
    [
      'nested metadata',
      { ...valid, metadata: { a: [{ b: 'ok' }, { c: '\u0000' }] } },
      'metadata.a.1.c',
      'NUL',
    ],
    ['a metadata key', { ...valid, metadata: { 'k\u0000': 1 } }, 'metadata.k\u0000', 'key'],
    ['the user id', { ...valid, userId: 'user\ud83d' }, 'userId', 'lone surrogate'],
  ])('refuses %s holding it with 422 naming the field', async (_what, body, field, problem) => {
    const { key } = await t.api.key(['generate']);
    const res = await raw('/v1/generations', key, JSON.stringify(body));
    expect(res.status).toBe(422);
    const refused = await error(res);
    expect(refused).toMatchObject({ code: 'invalid_request', field });
    expect(refused.message).toContain(problem === 'key' ? 'the key' : problem);
    expect(await queued('generate')).toBe(0);
  });

  it('refuses it in a telemetry ping, naming the ping and field', async () => {
    const { key } = await t.api.key(['telemetry']);
    const res = await raw(
      '/v1/telemetry',
      key,
      JSON.stringify([ping, { ...ping, deviceId: 'dev\u0000ice' }]),
    );
    expect(res.status).toBe(422);
    expect(await error(res)).toMatchObject({ code: 'invalid_request', field: '1.deviceId' });
  });

  it('refuses it in a pipeline run payload', async () => {
    const { key } = await t.api.key(['admin']);
    const res = await raw(
      '/v1/pipelines/prune-ledgers/runs',
      key,
      JSON.stringify({ payload: { note: '\u0000' } }),
    );
    expect(res.status).toBe(422);
    expect(await error(res)).toMatchObject({
      field: 'payload.note',
      message: expect.stringContaining('NUL'),
    });
  });

  it('still accepts every valid character, astral ones and escaped ones included', async () => {
    const { key } = await t.api.key(['generate']);
    const res = await raw(
      '/v1/generations',
      key,
      '{"userId":"u","taskType":"summary","prompt":"caf\\u00e9 \\ud83d\\ude00 𝕏 \\u0001"}',
    );
    expect(res.status).toBe(202);
  });
});
