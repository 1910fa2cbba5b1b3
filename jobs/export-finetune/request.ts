import type { FinetuneInclude } from '../../shared/config/finetune-config.ts';
import type { Config } from '../../shared/config/load-config.ts';
import type { FinetuneErasure, FinetuneTombstone } from '../../shared/finetune/manifest.ts';
import { type ExportFinetunePayload, parseTime } from '../../shared/finetune/queue.ts';
import type { ExportFormat } from './examples.ts';

/** A payload with every default filled in. */
export interface FinetuneRequest {
  task: string | undefined;
  since: Date;
  until: Date;
  include: FinetuneInclude[];
  format: ExportFormat;
  /** `finetune/<task or all>/<YYYY-MM-DD>/`: the UTC day of the run. */
  prefix: string;
  /** A rebuild of a set an erasure removed: the erasure, recorded in the new manifest. */
  rebuilt?: FinetuneErasure;
}

/** The request a removed set was built from, to write it again in its own folder. */
export function rebuildRequest(tombstone: FinetuneTombstone, prefix: string): FinetuneRequest {
  const { source, erased } = tombstone;
  return {
    task: source.task ?? undefined,
    since: new Date(source.since),
    until: new Date(source.until),
    include: source.include as FinetuneInclude[],
    format: tombstone.lineFormat,
    prefix,
    rebuilt: { at: erased.at, userHashes: erased.userHashes, written: erased.written },
  };
}

export function resolveFinetuneRequest(
  payload: ExportFinetunePayload,
  config: Config,
  now: Date,
): FinetuneRequest {
  const until = payload.until ? (parseTime(payload.until, now) as Date) : now;
  const since = payload.since
    ? (parseTime(payload.since, now) as Date)
    : new Date(until.getTime() - config.finetune.windowMs);
  if (since >= until) {
    throw new RangeError(
      `--since ${since.toISOString()} is not before --until ${until.toISOString()}`,
    );
  }
  return {
    task: payload.task,
    since,
    until,
    include: [...new Set(payload.include ?? config.finetune.include)],
    format: payload.format ?? 'openai',
    prefix: `finetune/${payload.task ?? 'all'}/${now.toISOString().slice(0, 10)}/`,
  };
}
