import { randomBytes } from 'node:crypto';

/**
 * Public job ids are BullMQ job ids of the form `<queue>.<owner>.<random>`: the queue says
 * where to look, `owner` (the first 12 hex digits of the API key's id) says whose job it is,
 * so another key's lookup answers 404 without a database read. Only the API creates these ids.
 */
export function ownerTag(apiKeyId: string): string {
  return apiKeyId.replaceAll('-', '').slice(0, 12);
}

export function newJobId(queue: string, apiKeyId: string, random?: string): string {
  return `${queue}.${ownerTag(apiKeyId)}.${random ?? randomBytes(12).toString('base64url')}`;
}

export function parseJobId(id: string): { queue: string; owner: string } | undefined {
  const match = /^([a-z0-9-]{1,64})\.([0-9a-f]{12})\.([A-Za-z0-9_-]{8,64})$/.exec(id);
  return match ? { queue: match[1] ?? '', owner: match[2] ?? '' } : undefined;
}
