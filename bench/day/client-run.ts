// The day's client: the app's users asking for generations and their devices' pings, sent on the
// compressed clock by the open-model scheduler. It records what the API accepted — each
// generation's job id, each ping batch's window — for the verification after the run.

import { percentile } from '../support.ts';
import { type LagSummary, openModel } from './open-model.ts';
import { pingId, pingPhases, pingsBetween } from './pings.ts';
import { type DayRequest, dayWorkload } from './workload.ts';

export interface ClientOptions {
  api: string;
  apiKey: string;
  users: number;
  seed: number;
  days: number;
  /** Simulated ms per real ms (24: a day in an hour). */
  compression: number;
  webhookUrl: string;
  /** Real ms between ping batches. @defaultValue 500 */
  pingTickMs?: number;
  /** How long one request may go unanswered. @defaultValue 30 s */
  timeoutMs?: number;
  /**
   * Requests of one kind (generations, ping batches) in flight at most — each its own connection.
   * An arrival due while this many wait for an answer is dropped and counted (k6's
   * dropped_iterations): a load generator with unbounded connections opened 5,000 sockets on a
   * starved machine and grew to 1.8 GB. @defaultValue 256
   */
  maxInFlight?: number;
}

/** A batch of pings the API accepted: `count` pings from `offset` of the window's pings. */
export interface PingBatch {
  from: number;
  to: number;
  offset: number;
  count: number;
}

export interface SentSummary {
  lag: LagSummary;
  /** Answers by HTTP status (`0`: none within the timeout, or a network error). */
  statuses: Record<string, number>;
  /** Requests not sent: due while `maxInFlight` were waiting for an answer. */
  dropped: number;
  /** Ms from sent to answered. */
  p50Ms: number;
  p99Ms: number;
}

export interface ClientResult {
  /** `Date.now()` at the run's simulated 0. */
  originEpochMs: number;
  compression: number;
  wallS: number;
  /** The client's own CPU-seconds from its start to the end of its day. */
  cpuS: number;
  generations: SentSummary & {
    /** [index among the run's requests, job id] of every 202. */
    accepted: [number, string][];
  };
  pings: SentSummary & { batches: PingBatch[]; accepted: number };
}

const MAX_BATCH = 1_000;

/** Sends, times and tallies requests; keeps every promise so the run can wait for the last. */
function tally(options: ClientOptions) {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const pending = new Set<Promise<void>>();
  let dropped = 0;
  const post = (path: string, body: unknown, onAccepted: (answer: unknown) => void) => {
    if (pending.size >= (options.maxInFlight ?? 256)) {
      dropped++;
      return;
    }
    const sent = performance.now();
    const done = fetch(`${options.api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    })
      .then(async (res) => {
        const answer = await res.json().catch(() => undefined);
        latencies.push(performance.now() - sent);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 202) onAccepted(answer);
      })
      .catch(() => {
        statuses[0] = (statuses[0] ?? 0) + 1;
      })
      .finally(() => pending.delete(done));
    pending.add(done);
  };
  const summary = async (lag: LagSummary): Promise<SentSummary> => {
    while (pending.size > 0) await Promise.all([...pending]);
    latencies.sort((a, b) => a - b);
    return {
      lag,
      statuses,
      dropped,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
  };
  return { post, summary };
}

/**
 * Builds the day's requests (seconds at 10,000 users, so before the clock starts) and returns
 * the run: from `origin` (`performance.now()`'s clock; `originEpochMs` is the same moment on
 * `Date.now()`'s, the run's simulated 0) to the end of the last day.
 */
export function prepareClient(
  options: ClientOptions,
): (origin: number, originEpochMs: number) => Promise<ClientResult> {
  const requests = dayWorkload({
    users: options.users,
    seed: options.seed,
    days: options.days,
  }).filter((r) => r.at >= 0);
  const phases = pingPhases({ users: options.users, seed: options.seed });
  return (origin, originEpochMs) => runClient(options, requests, phases, origin, originEpochMs);
}

async function runClient(
  options: ClientOptions,
  requests: DayRequest[],
  phases: Float64Array,
  origin: number,
  originEpochMs: number,
): Promise<ClientResult> {
  const c = options.compression;
  const generations = tally(options);
  const accepted: [number, string][] = [];
  const sendGenerations = openModel(
    requests.map((r) => r.at / c),
    origin,
    (i) => {
      const r = requests[i];
      if (!r) return;
      const body = {
        ...r.body,
        ...(r.webhook && { webhookUrl: options.webhookUrl }),
        metadata: { dayRequest: i },
      };
      generations.post('/v1/generations', body, (answer) => {
        accepted.push([i, String((answer as { id?: unknown } | undefined)?.id)]);
      });
    },
  );

  const schedule = { users: options.users, seed: options.seed };
  const tick = options.pingTickMs ?? 500;
  const ticks = Math.ceil((options.days * 86_400_000) / c / tick);
  const pings = tally(options);
  const batches: PingBatch[] = [];
  // Tick j sends the pings measured in its window once the window has ended.
  const sendPings = openModel(
    Array.from({ length: ticks }, (_, j) => (j + 1) * tick),
    origin,
    (j) => {
      const from = j * tick * c;
      const to = Math.min((j + 1) * tick * c, options.days * 86_400_000);
      const due = pingsBetween(schedule, phases, from, to);
      for (let offset = 0; offset < due.length; offset += MAX_BATCH) {
        const batch = due.slice(offset, offset + MAX_BATCH).map((p) => {
          const ms = originEpochMs + p.at / c;
          return {
            pingId: pingId(options.seed, p.device, p.k, ms),
            deviceId: `device-${p.device}`,
            userId: `user-${p.device}`,
            ts: new Date(ms).toISOString(),
            metric: 'app.heartbeat',
            value: p.k % 100,
          };
        });
        const at = { from, to, offset, count: batch.length };
        pings.post('/v1/telemetry', batch, () => batches.push(at));
      }
    },
  );
  const [generationLag, pingLag] = await Promise.all([sendGenerations, sendPings]);
  const gens = await generations.summary(generationLag);
  const sentPings = await pings.summary(pingLag);
  return {
    originEpochMs,
    compression: c,
    wallS: (performance.now() - origin) / 1000,
    cpuS: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    generations: { ...gens, accepted: accepted.sort((a, b) => a[0] - b[0]) },
    pings: { ...sentPings, batches, accepted: batches.reduce((n, b) => n + b.count, 0) },
  };
}
