import { afterEach, describe, expect, it } from 'vitest';
import { ownHosts, SSRF_HOSTS } from '../../../test/fixtures/ssrf-targets.ts';
import {
  OpenResources,
  startReceiver,
  startSentinel,
} from '../../../test/fixtures/webhook-servers.ts';
import { BlockedDestinationError } from '../../errors/blocked-destination-error.ts';
import { WebhookDeliveryError } from '../../errors/webhook-delivery-error.ts';
import type { ResolvedAddress } from './guarded-agent.ts';
import {
  createWebhookHttpClient,
  type WebhookHttpClient,
  type WebhookHttpClientOptions,
} from './safe-fetch.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

const client = (options: WebhookHttpClientOptions = {}): WebhookHttpClient =>
  open.track(createWebhookHttpClient(options));
const receiver = async (...args: Parameters<typeof startReceiver>) =>
  open.track(await startReceiver(...args));
const sentinel = async (...args: Parameters<typeof startSentinel>) =>
  open.track(await startSentinel(...args));

async function failure(promise: Promise<unknown>): Promise<WebhookDeliveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookDeliveryError);
  return error as WebhookDeliveryError;
}

const body = JSON.stringify({ type: 'generation.completed' });

describe('with the allow-list off', () => {
  it.each(['http', 'https'])(
    'refuses every SSRF target over %s without connecting',
    async (scheme) => {
      const trap = await sentinel('::');
      const http = client({ allowHttp: true });
      // A public-looking name whose DNS answers with the loopback address.
      const resolve = async (): Promise<ResolvedAddress[]> => [{ address: '127.0.0.1', family: 4 }];
      const named = client({ allowHttp: true, resolve });
      const hosts = [...SSRF_HOSTS, ...ownHosts()];

      for (const host of hosts) {
        const error = await failure(http.deliver(`${scheme}://${host}:${trap.port}/`, { body }));
        expect.soft(error, host).toBeInstanceOf(BlockedDestinationError);
      }
      const rebound = await failure(
        named.deliver(`${scheme}://loopback.example:${trap.port}/`, { body }),
      );

      expect(rebound).toBeInstanceOf(BlockedDestinationError);
      expect(rebound).toMatchObject({ hostname: 'loopback.example', address: '127.0.0.1' });
      expect(trap.connections).toBe(0);
    },
  );

  it('says which address and range it refused, and that it is permanent', async () => {
    const error = await failure(
      client().deliver('https://[::ffff:169.254.169.254]/latest', { body }),
    );

    expect(error).toBeInstanceOf(BlockedDestinationError);
    expect(error).toMatchObject({
      reason: 'blocked',
      permanent: true,
      url: 'https://[::ffff:169.254.169.254]/latest',
      address: '169.254.169.254',
      range: 'linkLocal',
    });
  });

  it('refuses a name when any one of its addresses is refused', async () => {
    const real = await receiver((_req, res) => res.end('ok'), '127.0.0.2');
    const trap = await sentinel('127.0.0.1', real.port);
    // 127.0.0.2 stands in for a public address: the test may not dial a real one.
    const resolve = async (): Promise<ResolvedAddress[]> => [
      { address: '127.0.0.2', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];

    const error = await failure(
      client({ allowHttp: true, allowList: ['127.0.0.2'], resolve }).deliver(
        `http://mixed.example:${real.port}/`,
        { body },
      ),
    );

    expect(error).toMatchObject({ reason: 'blocked', address: '127.0.0.1' });
    expect(real.connections + trap.connections).toBe(0);
  });

  it('checks the address again at every new connection, so DNS rebinding fails', async () => {
    const real = await receiver(
      (_req, res) => res.setHeader('connection', 'close').end('ok'),
      '127.0.0.2',
    );
    const trap = await sentinel('127.0.0.1', real.port);
    const answers = ['127.0.0.2', '127.0.0.1'];
    const resolve = async (): Promise<ResolvedAddress[]> => [
      { address: answers.shift() ?? '127.0.0.1', family: 4 },
    ];
    const http = client({ allowHttp: true, allowList: ['127.0.0.2'], resolve });
    const url = `http://rebinding.example:${real.port}/`;

    const first = await http.deliver(url, { body });
    const second = await failure(http.deliver(url, { body }));

    expect(first.status).toBe(200);
    expect(second).toMatchObject({ reason: 'blocked', address: '127.0.0.1' });
    expect(trap.connections).toBe(0);
  });

  it('lets through only what the allow-list names', async () => {
    const trap = await sentinel('::');
    const http = client({ allowHttp: true, allowList: ['127.0.0.1'] });

    for (const host of ['127.0.0.2', '[::1]', '10.0.0.1']) {
      const error = await failure(http.deliver(`http://${host}:${trap.port}/`, { body }));
      expect.soft(error, host).toBeInstanceOf(BlockedDestinationError);
    }
    expect(trap.connections).toBe(0);
  });
});
