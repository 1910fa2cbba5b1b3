import { describe, expect, it } from 'vitest';
import { buildWebhookEvent, webhookIdFor } from './events.ts';
import { DELIVERY_ID, deliveryJobId } from './queue.ts';

const KEY = '6f1c0a52-6d5e-4f0e-9a3b-0c2b7f1d9e11';

describe('webhook ids', () => {
  it('are the same for the same key, job and event type, and differ otherwise', () => {
    const id = webhookIdFor(KEY, 'generate.6f1c0a526d5e.abc', 'generation.completed');
    expect(id).toMatch(DELIVERY_ID);
    expect(webhookIdFor(KEY, 'generate.6f1c0a526d5e.abc', 'generation.completed')).toBe(id);
    expect(webhookIdFor(KEY, 'generate.6f1c0a526d5e.abc', 'generation.failed')).not.toBe(id);
    expect(webhookIdFor(KEY, 'generate.6f1c0a526d5e.abd', 'generation.completed')).not.toBe(id);
  });

  it('name one BullMQ job per run', () => {
    expect(deliveryJobId('msg_1', 0)).toBe('msg_1');
    expect(deliveryJobId('msg_1', 2)).toBe('msg_1.r2');
  });
});

describe('the event body', () => {
  it('has the Standard Webhooks shape: type, timestamp, data', () => {
    const now = new Date('2026-02-03T04:05:06Z');
    expect(
      buildWebhookEvent('generate.x.y', { type: 'generation.failed', error: 'timed out' }, now),
    ).toEqual({
      type: 'generation.failed',
      timestamp: '2026-02-03T04:05:06.000Z',
      data: {
        jobId: 'generate.x.y',
        status: 'failed',
        result: null,
        error: { message: 'timed out' },
        metadata: null,
        createdAt: null,
        finishedAt: '2026-02-03T04:05:06.000Z',
      },
    });
  });
});
