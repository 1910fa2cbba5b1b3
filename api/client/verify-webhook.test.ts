import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../shared/api-keys/index.ts';
import { signWebhook } from '../../shared/webhooks/signing.ts';
import { WebhookVerificationError } from './errors/index.ts';
import { verifyWebhook } from './index.ts';

const body = JSON.stringify({
  type: 'generation.completed',
  data: { jobId: 'job_1', text: 'é ✓' },
});

/** The Standard Webhooks specification's published example. */
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

async function rejection(promise: Promise<unknown>): Promise<WebhookVerificationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return error as WebhookVerificationError;
}

describe('signWebhook', () => {
  it('reproduces the specification’s reference signature', () => {
    const headers = signWebhook({
      id: vector.id,
      body: vector.body,
      secret: vector.secret,
      timestamp: new Date(vector.timestamp * 1_000),
    });

    expect(headers).toEqual({
      'webhook-id': vector.id,
      'webhook-timestamp': String(vector.timestamp),
      'webhook-signature': vector.signature,
    });
  });

  it('is verified by the official standardwebhooks package', () => {
    const secret = generateWebhookSecret();
    const headers = signWebhook({ id: 'msg_1', body, secret });

    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('signs whole seconds, so a retry a second later has a new timestamp and signature', () => {
    const secret = generateWebhookSecret();
    const first = signWebhook({
      id: 'msg_1',
      body,
      secret,
      timestamp: new Date(1_700_000_000_400),
    });
    const retry = signWebhook({
      id: 'msg_1',
      body,
      secret,
      timestamp: new Date(1_700_000_001_900),
    });

    expect(first['webhook-timestamp']).toBe('1700000000');
    expect(retry['webhook-timestamp']).toBe('1700000001');
    expect(retry['webhook-id']).toBe(first['webhook-id']);
    expect(retry['webhook-signature']).not.toBe(first['webhook-signature']);
  });

  it('refuses a secret that is not whsec_ and base64 of at least 16 bytes', () => {
    for (const secret of [
      '',
      'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'whsec_',
      'whsec_c2hvcnQ=',
      'whsec_!!!!',
    ]) {
      expect(() => signWebhook({ id: 'msg_1', body, secret })).toThrow(/whsec_/);
    }
  });
});

describe('verifyWebhook', () => {
  const secret = generateWebhookSecret();
  const now = new Date('2026-01-01T00:00:00Z');
  const signed = () => signWebhook({ id: 'msg_1', body, secret, timestamp: now });

  it('verifies the specification’s reference signature', async () => {
    const headers = new Headers({
      'webhook-id': vector.id,
      'webhook-timestamp': String(vector.timestamp),
      'webhook-signature': vector.signature,
    });

    await expect(
      verifyWebhook(vector.body, headers, vector.secret, { now: vector.timestamp * 1_000 }),
    ).resolves.toEqual({ test: 2432232314 });
  });

  it('verifies what the official package signs and returns the parsed payload', async () => {
    const signature = new Webhook(secret).sign('msg_2', now, body);
    const headers = {
      'webhook-id': 'msg_2',
      'webhook-timestamp': String(now.getTime() / 1_000),
      'webhook-signature': signature,
    };

    await expect(verifyWebhook(body, headers, secret, { now })).resolves.toEqual(JSON.parse(body));
  });

  it('reads fetch Headers and Node-style objects in any case', async () => {
    const headers = signed();
    const shouting = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name.toUpperCase(), [value]]),
    );

    await expect(
      verifyWebhook(body, new Headers({ ...headers }), secret, { now }),
    ).resolves.toBeDefined();
    await expect(verifyWebhook(body, shouting, secret, { now })).resolves.toBeDefined();
  });

  describe('when anything signed was changed', () => {
    it.each([
      ['the body', { body: body.replace('job_1', 'job_2') }],
      ['the id', { headers: { 'webhook-id': 'msg_other' } }],
      ['the timestamp', { headers: { 'webhook-timestamp': String(now.getTime() / 1_000 + 1) } }],
    ])('rejects a changed %s', async (_, change: { body?: string; headers?: object }) => {
      const headers = { ...signed(), ...change.headers };

      const error = await rejection(verifyWebhook(change.body ?? body, headers, secret, { now }));
      expect(error.reason).toBe('no-matching-signature');
    });
  });

  it('rejects another key’s secret', async () => {
    const error = await rejection(verifyWebhook(body, signed(), generateWebhookSecret(), { now }));

    expect(error.reason).toBe('no-matching-signature');
  });

  it('rejects a timestamp older, or further ahead, than the tolerance', async () => {
    const headers = signed();
    const at = (seconds: number) => now.getTime() + seconds * 1_000;

    await expect(verifyWebhook(body, headers, secret, { now: at(300) })).resolves.toBeDefined();
    expect((await rejection(verifyWebhook(body, headers, secret, { now: at(301) }))).reason).toBe(
      'timestamp-too-old',
    );
    expect((await rejection(verifyWebhook(body, headers, secret, { now: at(-301) }))).reason).toBe(
      'timestamp-too-new',
    );
    const tight = { now: at(31), toleranceSeconds: 30 };
    expect((await rejection(verifyWebhook(body, headers, secret, tight))).reason).toBe(
      'timestamp-too-old',
    );
  });

  it('rejects a stale delivery that the official package also rejects', async () => {
    const stale = signWebhook({
      id: 'msg_1',
      body,
      secret,
      timestamp: new Date(Date.now() - 600_000),
    });

    expect(() => new Webhook(secret).verify(body, { ...stale })).toThrow(/too old/);
    expect((await rejection(verifyWebhook(body, stale, secret))).reason).toBe('timestamp-too-old');
  });

  describe('with several signatures in the header (a secret being rotated)', () => {
    const next = generateWebhookSecret();
    const both = () => {
      const headers = signed();
      const other = signWebhook({ id: 'msg_1', body, secret: next, timestamp: now });
      return {
        ...headers,
        'webhook-signature': `${headers['webhook-signature']} ${other['webhook-signature']}`,
      };
    };

    it('accepts the header with either secret, as the official package does', async () => {
      await expect(verifyWebhook(body, both(), secret, { now })).resolves.toBeDefined();
      await expect(verifyWebhook(body, both(), next, { now })).resolves.toBeDefined();
      expect(
        new Webhook(next).verify(body, signWebhook({ id: 'msg_1', body, secret: next })),
      ).toBeDefined();
    });

    it('accepts a list of secrets, any of which may match', async () => {
      await expect(
        verifyWebhook(body, signed(), [generateWebhookSecret(), secret], { now }),
      ).resolves.toBeDefined();
    });

    it('ignores other versions and garbage, and fails when no v1 signature matches', async () => {
      const good = signed()['webhook-signature'];
      const mixed = { ...signed(), 'webhook-signature': `v1a,${good.slice(3)} v1,%%% ${good}` };
      const wrong = { ...signed(), 'webhook-signature': `v1a,${good.slice(3)} v1,AAAA v2,x` };

      await expect(verifyWebhook(body, mixed, secret, { now })).resolves.toBeDefined();
      expect((await rejection(verifyWebhook(body, wrong, secret, { now }))).reason).toBe(
        'no-matching-signature',
      );
    });
  });

  it('names what is missing or malformed', async () => {
    const { 'webhook-signature': _, ...unsigned } = signed();

    expect((await rejection(verifyWebhook(body, unsigned, secret, { now }))).reason).toBe(
      'missing-headers',
    );
    const badTime = { ...signed(), 'webhook-timestamp': '1767225600.5' };
    expect((await rejection(verifyWebhook(body, badTime, secret, { now }))).reason).toBe(
      'invalid-timestamp',
    );
    expect((await rejection(verifyWebhook(body, signed(), 'whsec_c2hvcnQ=', { now }))).reason).toBe(
      'invalid-secret',
    );
  });

  it('rejects a correctly signed body that is not JSON', async () => {
    const headers = signWebhook({ id: 'msg_1', body: 'not json', secret, timestamp: now });

    expect((await rejection(verifyWebhook('not json', headers, secret, { now }))).reason).toBe(
      'invalid-payload',
    );
  });
});
