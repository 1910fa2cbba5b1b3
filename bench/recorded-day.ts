import { createHash, randomUUID } from 'node:crypto';
import type { Db } from '../shared/db/create-db.ts';
import type { GeneratePayload } from '../shared/generation/schema.ts';
import { normaliseText } from '../shared/inference/request-keys.ts';
import type { WorkloadAsk } from './zipf-workload.ts';

/**
 * Writes a day of asks to `generations` as the generate job records them (one row each, the
 * payload as `request`), spread over the 24 hours before now (or each at `at(i)`), 1,000 rows a
 * statement.
 */
export async function recordDay(
  db: Db,
  asks: WorkloadAsk[],
  apiKeyId: string,
  at?: (i: number) => Date,
): Promise<void> {
  const now = Date.now();
  const rows = asks.map((ask, i) => {
    const content = ask.request.messages[0]?.content ?? '';
    const payload: GeneratePayload = {
      userId: ask.userId,
      apiKeyId,
      taskType: ask.request.taskType as GeneratePayload['taskType'],
      prompt: content,
    };
    const prompt = `user: ${content}`;
    return {
      id: randomUUID(),
      created_at:
        at?.(i) ??
        new Date(now - 60_000 - Math.floor(((asks.length - i) / asks.length) * 23 * 3_600_000)),
      api_key_id: apiKeyId,
      user_id: ask.userId,
      task_type: payload.taskType,
      prompt,
      prompt_hash: createHash('sha256').update(normaliseText(prompt)).digest('hex'),
      request: JSON.stringify(payload),
      response: 'an answer',
      status: 'completed' as const,
      route: 'local' as const,
      model: 'llama3.2:3b',
      tokens_in: 20,
      tokens_out: 40,
      cost_usd: '0',
      latency_ms: 200,
    };
  });
  for (let i = 0; i < rows.length; i += 1_000) {
    await db
      .insertInto('generations')
      .values(rows.slice(i, i + 1_000))
      .execute();
  }
}
