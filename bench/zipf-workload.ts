// The seeded Zipf workload the generation benchmarks share: a few prompts asked often, a long
// tail asked once, a share of asks reworded.
import type { GenerationRequest } from '../shared/inference/pipeline.ts';

/** A small seeded PRNG (mulberry32): the same workload every run. */
export function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const subjects = [
  'red shoes',
  'solar panels',
  'the quarterly report',
  'a refund request',
  'the outage',
  'our pricing page',
  'the onboarding email',
  'a login bug',
  'the mobile app',
  'shipping delays',
];
// Each kind: a task type, a prompt, and a rewording the way another user would ask.
const kinds: [
  GenerationRequest['taskType'],
  (s: string, n: number) => string,
  (s: string, n: number) => string,
][] = [
  [
    'summary',
    (s, n) => `Summarize this article about ${s} (part ${n})`,
    (s, n) => `Please summarise the article on ${s} (part ${n})`,
  ],
  [
    'classification',
    (s, n) => `Classify this ticket about ${s}, case ${n}`,
    (s, n) => `Please classify the ticket on ${s}, case ${n}`,
  ],
  [
    'formatting',
    (s, n) => `Format a title for ${s} number ${n}`,
    (s, n) => `Please format the title for ${s} number ${n}`,
  ],
  ['qa', (s, n) => `What is ${s} item ${n}?`, (s, n) => `Please tell me what ${s} item ${n} is?`],
  [
    'diagnosis',
    (s, n) => `Explain why ${s} failed step by step and compare the trade-offs in incident ${n}`,
    (s, n) => `Please explain why ${s} failed step by step and compare trade-offs in incident ${n}`,
  ],
];

/**
 * Prompt number `rank` (0, 1, 2, … each a different question), as first asked or reworded the
 * way another user would ask: the two embed alike and share every number.
 */
export function promptOf(
  rank: number,
  reworded: boolean,
): { taskType: GenerationRequest['taskType']; content: string } {
  const [taskType, ask, reword] = kinds[rank % kinds.length] as (typeof kinds)[number];
  const subject = subjects[Math.floor(rank / kinds.length) % subjects.length] as string;
  const n = Math.floor(rank / (kinds.length * subjects.length));
  return { taskType, content: reworded ? reword(subject, n) : ask(subject, n) };
}

/** One request of the workload: which prompt (its Zipf rank) and who asked. */
export interface WorkloadAsk {
  request: GenerationRequest;
  /** 0 for the most asked prompt. */
  rank: number;
  /** `user-<n>` when `users` is given, else `user-0`. */
  userId: string;
}

/**
 * A seeded Zipf (s = 1) stream over `distinct` prompts: rank r is asked with weight 1/r, a share
 * of asks reworded the way another user would ask. Each prompt is single-turn.
 */
export function zipfWorkload(options: {
  requests: number;
  distinct: number;
  paraphrased: number;
  seed: number;
  /** Askers, drawn uniformly. @defaultValue 1 */
  users?: number;
}): WorkloadAsk[] {
  const random = rng(options.seed);
  const weights = Array.from({ length: options.distinct }, (_, r) => 1 / (r + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let sum = 0;
  for (const w of weights) {
    sum += w / total;
    cumulative.push(sum);
  }
  return Array.from({ length: options.requests }, () => {
    const u = random();
    let lo = 0;
    let hi = options.distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    const { taskType, content } = promptOf(lo, random() < options.paraphrased);
    // Drawn only when asked for, so a workload without users is the one earlier runs measured.
    const userId = options.users ? `user-${Math.floor(random() * options.users)}` : 'user-0';
    return { request: { taskType, messages: [{ role: 'user', content }] }, rank: lo, userId };
  });
}
