import { finetuneSets, setFileKeys, setMayHold } from '../finetune/manifest.ts';
import type { ObjectStorage } from '../storage/storage.ts';
import type { ErasureCheck, Remaining } from './erasure-check.ts';

const CHECK = 'fine-tune sets';

/**
 * `--verify`'s check of the fine-tune sets under `finetune/`: every published set whose user
 * index may hold the erased user (tested with the erasure's keyed hash, so it runs after the
 * erasure is done without the user's id), or that has no index, and every removed set whose
 * folder still holds files. A JSONL line keeps no user, so `rows` is the set's example count:
 * where the user may remain, not how much of them.
 */
export function finetuneSetsCheck(storage: ObjectStorage): ErasureCheck {
  return {
    name: CHECK,
    async run(_ctx, erasure) {
      const waiting = erasure.status !== 'done';
      const left: Remaining[] = [];
      for await (const set of finetuneSets(storage)) {
        if (set.kind === 'erased') {
          const mine = set.manifest.erased.userHashes.includes(erasure.userHash);
          const files = mine ? (await setFileKeys(storage, set.prefix)).length : 0;
          if (files > 0) {
            left.push({
              check: CHECK,
              place: set.prefix,
              rows: set.manifest.erased.written,
              note: `removed, but ${files} file(s) are still in its folder: the next apply-erasures run deletes them`,
            });
          }
          continue;
        }
        if (setMayHold(set.manifest, [erasure.userHash]).length === 0) continue;
        left.push({
          check: CHECK,
          place: set.prefix,
          rows: set.manifest.counts.written,
          note: [
            set.manifest.users
              ? 'its user index may hold the user (0.01 % false positives)'
              : 'it has no user index, so it may hold anyone',
            waiting
              ? 'waiting for apply-erasures (ERASE_CRON, or `lowburn users erase --apply-now`)'
              : 'the next apply-erasures run removes and rebuilds it',
          ].join('; '),
        });
      }
      return left;
    },
  };
}
