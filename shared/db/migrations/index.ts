import type { Migration } from 'kysely/migration';
import * as initial from './0001-initial.ts';

/** Every migration, in order. Imported statically so the worker image needs no file scanning. */
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
};
