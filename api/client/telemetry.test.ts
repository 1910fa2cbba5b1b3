import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, LowburnApiError, newPingId, type TelemetryPingInput } from './index.ts';

// The API played by a real HTTP server: each request gets the next scripted reply.
type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'reset';

const servers = new Set<() => Promise<void>>();

afterEach(async () => {
  await Promise.all([...servers].map((close) => close()));
  servers.clear();
});

async function startApi(replies: (n: number, pings: unknown[]) => Reply) {
  const received: { url: string; pings: { pingId: string; value: number }[] }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const pings = JSON.parse(body) as { pingId: string; value: number }[];
    received.push({ url: req.url ?? '', pings });
    const reply = replies(received.length - 1, pings);
    if (reply === 'reset') {
      req.socket.destroy();
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.add(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, received };
}

const acceptAll = (_n: number, pings: unknown[]): Reply => ({
  status: 202,
  body: { accepted: pings.length },
});

const pings = (n: number): TelemetryPingInput[] =>
  Array.from({ length: n }, (_, i) => ({
    deviceId: `device-${i % 7}`,
    ts: '2026-01-01T00:00:00.000Z',
    metric: 'battery.pct',
    value: i,
  }));

// What the client fills in: a UUIDv7 (see newPingId below).
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('telemetry.send', () => {
  it('splits 2,500 pings into requests of 1,000, 1,000 and 500, in order', async () => {
    const api = await startApi(acceptAll);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.telemetry.send(pings(2_500))).resolves.toEqual({ accepted: 2_500 });

    expect(api.received.map((r) => [r.url, r.pings.length])).toEqual([
      ['/v1/telemetry', 1_000],
      ['/v1/telemetry', 1_000],
      ['/v1/telemetry', 500],
    ]);
    const values = api.received.flatMap((r) => r.pings.map((p) => p.value));
    expect(values).toEqual(pings(2_500).map((p) => p.value));
  });

  it('fills in missing pingIds once, so a retried request resends the same ids', async () => {
    const api = await startApi((n, sent) =>
      n === 0
        ? { status: 503, body: { error: { code: 'unavailable', message: 'buffer full' } } }
        : n === 1
          ? 'reset'
          : acceptAll(n, sent),
    );
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test', retries: 2 });
    const own = { ...pings(1)[0]!, pingId: '8f14e45f-ceea-467a-9af0-8c2d8f3c1c01' };
    const input = [...pings(2), own];

    await expect(client.telemetry.send(input)).resolves.toEqual({ accepted: 3 });

    expect(api.received).toHaveLength(3);
    const [first, second, third] = api.received.map((r) => r.pings.map((p) => p.pingId));
    expect(first).toHaveLength(3);
    expect(first?.slice(0, 2)).toEqual([expect.stringMatching(uuid), expect.stringMatching(uuid)]);
    expect(new Set(first).size).toBe(3);
    expect(first?.[2]).toBe(own.pingId);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    // The caller's pings are not modified.
    expect(input[0]).not.toHaveProperty('pingId');
  });

  it('surfaces a rejected batch as a LowburnApiError listing every problem', async () => {
    const details = [
      { index: 3, field: 'pingId', message: 'Invalid UUID' },
      { index: 7, field: 'colour', message: 'unknown field; remove it' },
    ];
    const api = await startApi(() => ({
      status: 422,
      body: {
        error: {
          code: 'invalid_request',
          message: '2 problem(s), nothing was accepted; first: 3.pingId: Invalid UUID',
          field: '3.pingId',
          details,
        },
      },
    }));
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const error = await client.telemetry.send(pings(10)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LowburnApiError);
    expect(error).toMatchObject({
      status: 422,
      code: 'invalid_request',
      field: '3.pingId',
      details,
    });
    expect(api.received).toHaveLength(1);
  });

  it('stops at the first rejected request and sends none after it', async () => {
    const api = await startApi((n, sent) =>
      n === 1
        ? { status: 403, body: { error: { code: 'forbidden', message: 'no telemetry scope' } } }
        : acceptAll(n, sent),
    );
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.telemetry.send(pings(3_000))).rejects.toMatchObject({
      status: 403,
      details: undefined,
    });
    expect(api.received).toHaveLength(2);
  });

  it('sends a request refused as too large again in halves, with the same ids', async () => {
    const tooLarge: Reply = {
      status: 413,
      body: { error: { code: 'payload_too_large', message: 'the body is larger than 256 KB' } },
    };
    const api = await startApi((n, sent) => (sent.length > 300 ? tooLarge : acceptAll(n, sent)));
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.telemetry.send(pings(1_200))).resolves.toEqual({ accepted: 1_200 });

    expect(api.received.map((r) => r.pings.length)).toEqual([
      1_000, 500, 250, 250, 500, 250, 250, 200,
    ]);
    const ids = (from: number, to: number) =>
      api.received.slice(from, to).flatMap((r) => r.pings.map((p) => p.pingId));
    expect(ids(2, 4)).toEqual(ids(1, 2));
    expect([...ids(2, 4), ...ids(5, 7)]).toEqual(ids(0, 1));
  });

  it('throws a 413 for a single ping too large to send', async () => {
    const api = await startApi(() => ({
      status: 413,
      body: { error: { code: 'payload_too_large', message: 'the body is larger than 256 KB' } },
    }));
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.telemetry.send(pings(2))).rejects.toMatchObject({
      status: 413,
      code: 'payload_too_large',
    });
    expect(api.received.map((r) => r.pings.length)).toEqual([2, 1]);
  });

  it('resolves with nothing accepted for no pings, without a request', async () => {
    const api = await startApi(acceptAll);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.telemetry.send([])).resolves.toEqual({ accepted: 0 });
    expect(api.received).toHaveLength(0);
  });

  it('ends with the signal’s AbortError', async () => {
    const api = await startApi(acceptAll);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(
      client.telemetry.send(pings(5), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(api.received).toHaveLength(0);
  });
});

describe('newPingId', () => {
  it('makes UUIDv7s: version 7, RFC variant, the current millisecond in the first 48 bits', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1_000 }, newPingId);
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sorts ids of later milliseconds after earlier ones', async () => {
    const first = newPingId();
    await new Promise((resolve) => setTimeout(resolve, 2));
    expect(newPingId() > first).toBe(true);
  });
});
