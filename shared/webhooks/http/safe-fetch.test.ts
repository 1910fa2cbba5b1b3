import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OpenResources,
  startReceiver as startReceiverOn,
  startSentinel,
} from '../../../test/fixtures/webhook-servers.ts';
import { WebhookDeliveryError } from '../../errors/webhook-delivery-error.ts';
import type { ResolvedAddress } from './guarded-agent.ts';
import {
  createWebhookHttpClient,
  type WebhookHttpClient,
  type WebhookHttpClientOptions,
} from './safe-fetch.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

const startReceiver = async (...args: Parameters<typeof startReceiverOn>) =>
  open.track(await startReceiverOn(...args));
const client = (options: WebhookHttpClientOptions = {}): WebhookHttpClient =>
  open.track(createWebhookHttpClient(options));

/** A local test client: plain HTTP to 127.0.0.1, allowed only through the explicit allow-list. */
const localClient = (options: WebhookHttpClientOptions = {}) =>
  client({ allowHttp: true, allowList: ['127.0.0.1'], ...options });

async function failure(promise: Promise<unknown>): Promise<WebhookDeliveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookDeliveryError);
  return error as WebhookDeliveryError;
}

const body = JSON.stringify({ type: 'generation.completed' });

describe('delivering to a receiver', () => {
  it('returns a 2xx with its headers and body, sending ours', async () => {
    let received: { method?: string; headers?: object; body?: string } = {};
    const receiver = await startReceiver((req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        received = { method: req.method, headers: req.headers, body: text };
        res.writeHead(202, { 'x-receiver': 'yes' }).end('thanks');
      });
    });

    const response = await localClient().deliver(`http://127.0.0.1:${receiver.port}/hooks`, {
      body,
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
    });

    expect(response).toMatchObject({ status: 202, body: 'thanks', truncated: false });
    expect(response.headers['x-receiver']).toBe('yes');
    expect(response.durationMs).toBeGreaterThan(0);
    expect(received).toMatchObject({
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
    });
  });

  it('reuses one keep-alive connection for deliveries to the same receiver', async () => {
    const receiver = await startReceiver((_req, res) => res.end('ok'));
    const http = localClient();

    for (let i = 0; i < 5; i++) {
      await http.deliver(`http://127.0.0.1:${receiver.port}/`, { body });
    }

    expect(receiver.connections).toBe(1);
  });

  it('returns a redirect as it is and does not follow it', async () => {
    const sentinel = open.track(await startSentinel('127.0.0.1'));
    const receiver = await startReceiver((_req, res) =>
      res.writeHead(302, { location: `http://127.0.0.1:${sentinel.port}/internal` }).end(),
    );

    const response = await localClient().deliver(`http://127.0.0.1:${receiver.port}/`, { body });

    expect(response.status).toBe(302);
    expect(response.headers.location).toBe(`http://127.0.0.1:${sentinel.port}/internal`);
    expect(sentinel.connections).toBe(0);
  });

  it('keeps 64 KB of a 10 MB body and hangs up on the rest, quickly', async () => {
    const receiver = await startReceiver((_req, res) => {
      res.on('error', () => {}); // our hang-up cuts the write short
      res.end(Buffer.alloc(10 * 1024 * 1024, 'x'));
    });

    const started = performance.now();
    const response = await localClient().deliver(`http://127.0.0.1:${receiver.port}/`, { body });

    expect(response.truncated).toBe(true);
    expect(response.body).toHaveLength(64 * 1024);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('times out a receiver that trickles its body, however steadily', async () => {
    const drips: NodeJS.Timeout[] = [];
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(200);
      drips.push(setInterval(() => res.write('.'), 50));
      res.on('close', () => drips.forEach(clearInterval));
    });

    const started = performance.now();
    const error = await failure(
      localClient({ timeoutMs: 400 }).deliver(`http://127.0.0.1:${receiver.port}/`, { body }),
    );

    expect(error.reason).toBe('timeout');
    expect(error.permanent).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it('reads Retry-After as seconds or as an HTTP date', async () => {
    const later = new Date(Date.now() + 30_000).toUTCString();
    const receiver = await startReceiver((req, res) =>
      req.url === '/seconds'
        ? res.writeHead(429, { 'retry-after': '120' }).end()
        : res.writeHead(503, { 'retry-after': later }).end(),
    );
    const http = localClient();
    const url = `http://127.0.0.1:${receiver.port}`;

    const seconds = await http.deliver(`${url}/seconds`, { body });
    const date = await http.deliver(`${url}/date`, { body });

    expect(seconds).toMatchObject({ status: 429, retryAfterMs: 120_000 });
    expect(date.status).toBe(503);
    expect(date.retryAfterMs).toBeGreaterThan(28_000);
    expect(date.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('tells a refused connection (network) from the URL’s own problems (permanent)', async () => {
    const closed = await startReceiver(() => {});
    const { port } = closed;
    await closed.close();
    const http = localClient();

    const refused = await failure(http.deliver(`http://127.0.0.1:${port}/`, { body }));
    const plain = await failure(client().deliver('http://receiver.example/hook', { body }));
    const garbage = await failure(http.deliver('not a url', { body }));
    const ftp = await failure(http.deliver('ftp://receiver.example/', { body }));

    expect(refused).toMatchObject({ reason: 'network', permanent: false });
    expect(refused.message).toMatch(/ECONNREFUSED/);
    expect(plain).toMatchObject({ reason: 'https-required', permanent: true });
    expect(garbage).toMatchObject({ reason: 'invalid-url', permanent: true });
    expect(ftp).toMatchObject({ reason: 'invalid-url', permanent: true });
  });

  it('fails as a network error when the receiver hangs up mid-body', async () => {
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial', () => res.destroy());
    });

    const error = await failure(
      localClient().deliver(`http://127.0.0.1:${receiver.port}/`, { body }),
    );

    expect(error).toMatchObject({ reason: 'network', permanent: false });
  });

  it('stops when the caller’s signal aborts', async () => {
    const receiver = await startReceiver(() => {}); // never answers
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutting down')), 50);

    await expect(
      localClient().deliver(`http://127.0.0.1:${receiver.port}/`, {
        body,
        signal: controller.signal,
      }),
    ).rejects.toThrow('shutting down');
  });
});

describe('over HTTPS', () => {
  let tls: { key: string; cert: string };
  beforeAll(async () => {
    // A self-signed certificate for receiver.test, made by the openssl CLI (Node cannot sign one).
    const dir = await mkdtemp(path.join(tmpdir(), 'lowburn-tls-'));
    try {
      await promisify(execFile)('openssl', [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
        ...['-nodes', '-days', '1', '-subj', '/CN=receiver.test'],
        ...['-addext', 'subjectAltName=DNS:receiver.test'],
        ...['-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
      ]);
      tls = {
        key: await readFile(path.join(dir, 'key.pem'), 'utf8'),
        cert: await readFile(path.join(dir, 'cert.pem'), 'utf8'),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks the certificate against the host name while connecting to the checked address', async () => {
    const server = createHttpsServer(tls, (_req, res) => res.end('secure'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    open.track({
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    });
    const { port } = server.address() as AddressInfo;
    const resolve = async (): Promise<ResolvedAddress[]> => [{ address: '127.0.0.1', family: 4 }];

    const trusted = client({ allowList: ['127.0.0.1'], resolve, ca: tls.cert });
    const response = await trusted.deliver(`https://receiver.test:${port}/`, { body });
    const untrusted = await failure(
      client({ allowList: ['127.0.0.1'], resolve }).deliver(`https://receiver.test:${port}/`, {
        body,
      }),
    );

    expect(response).toMatchObject({ status: 200, body: 'secure' });
    expect(untrusted.reason).toBe('network');
  });
});
