import { ObjectNotFoundError } from '../errors/object-not-found-error.ts';
import type { ObjectStorage } from './storage.ts';

/** A small object's whole text (UTF-8), or `undefined` when it does not exist. */
export async function readText(storage: ObjectStorage, key: string): Promise<string | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
}
