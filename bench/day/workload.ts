// The simulated day's AI requests (issue #17), pure and seeded: who asks what, when. Each request
// repeats, rewords or re-fills an earlier one from the 24 hours before it, or asks something new,
// in the mix the ContentOptimizer seed reports; `keys` say what a perfect cache would match on
// (see oracle.ts), from the workload's own identities, not lowburn's key functions.

import type { GenerateRequest } from '../../shared/generation/schema.ts';
import { promptOf, rng, subjects } from '../zipf-workload.ts';
import { DAY_MS, scheduleArrivals } from './arrivals.ts';

type TaskType = GenerateRequest['taskType'];

export type RequestKind = 'repeat' | 'paraphrase' | 'template' | 'new';
/** What a new request is: a prompt, a template with new parameters, a chat, or JSON wanted. */
export type NewShape = 'prompt' | 'template' | 'chat' | 'json';

/** Shares of the four kinds: the seed's 40 / 35 / 18 / 7 (93 % a perfect cache could answer). */
export const DEFAULT_MIX: Readonly<Record<RequestKind, number>> = {
  repeat: 0.4,
  paraphrase: 0.35,
  template: 0.18,
  new: 0.07,
};
/** How new requests split: "a few multi-turn chats and a share with responseFormat". */
export const NEW_SHAPES: Readonly<Record<NewShape, number>> = {
  prompt: 0.65,
  template: 0.15,
  chat: 0.1,
  json: 0.1,
};

export interface DayRequest {
  /** Ms from the start of the run (day 0 at 0; the previous day is negative). */
  at: number;
  userId: string;
  /** A request drawn to reuse an earlier one that found none in the look-back is `new`. */
  kind: RequestKind;
  /** The shape of the question first asked (a repeat or rewording keeps it). */
  shape: NewShape;
  /** Which of the 8 wordings a prompt uses (0 as first asked). */
  variant: number;
  /** The body for `POST /v1/generations`, without `webhookUrl`. */
  body: GenerateRequest;
  webhook: boolean;
  keys: {
    /** Same exact input, task and format: the exact layer. */
    exact: string;
    /** Same template and parameters that change the answer: the template layer. */
    template?: string;
    /** Same question, one turn, any wording: the semantic layer. */
    meaning?: string;
  };
}

export interface WorkloadOptions {
  users: number;
  seed: number;
  /** Days run after the previous day (which is generated too, at negative times). @defaultValue 1 */
  days?: number;
  /** @defaultValue 30 */
  perUser?: number;
  /** Zipf exponent of user activity. @defaultValue 0.8 */
  userExponent?: number;
  mix?: Readonly<Record<RequestKind, number>>;
  /** @defaultValue 0.5 */
  webhookShare?: number;
  /** How far back an earlier request may be reused. @defaultValue 24 h */
  lookbackMs?: number;
}

const JSON_FORMAT = {
  type: 'object',
  properties: { answer: { type: 'string' } },
  required: ['answer'],
};
// Rewordings that embed alike (stopwords and instruction verbs only): 2 wordings × 4 openings.
const OPENINGS = ['', 'Please, ', 'Could you: ', 'Kindly: '];
const VARIANTS = OPENINGS.length * 2;

const pickShare = <K extends string>(shares: Readonly<Record<K, number>>, u: number): K => {
  const entries = Object.entries(shares) as [K, number][];
  let sum = 0;
  for (const [k, share] of entries) {
    sum += share;
    if (u < sum) return k;
  }
  return (entries.at(-1) as [K, number])[0];
};

/** Earlier requests of one sort, in time order, with the start of the look-back window. */
class Recent {
  readonly items: DayRequest[] = [];
  #start = 0;
  pick(now: number, lookbackMs: number, random: () => number): DayRequest | undefined {
    while (this.#start < this.items.length && (this.items[this.#start]?.at ?? 0) < now - lookbackMs)
      this.#start++;
    const n = this.items.length - this.#start;
    return n === 0 ? undefined : this.items[this.#start + Math.floor(random() * n)];
  }
}

/**
 * The requests of the previous day and of `days` days after it, in time order. The same options
 * give the same requests.
 */
export function dayWorkload(options: WorkloadOptions): DayRequest[] {
  const random = rng(options.seed);
  const mix = options.mix ?? DEFAULT_MIX;
  const lookback = options.lookbackMs ?? DAY_MS;
  const arrivals = scheduleArrivals({
    users: options.users,
    perUser: options.perUser ?? 30,
    first: -1,
    days: (options.days ?? 1) + 1,
    exponent: options.userExponent ?? 0.8,
    random,
  });
  const any = new Recent();
  const oneTurn = new Recent();
  const filled = new Recent();
  let nextMeaning = 0;
  const out: DayRequest[] = [];
  for (const { at, user } of arrivals) {
    const base = { at, userId: `user-${user}`, webhook: random() < (options.webhookShare ?? 0.5) };
    const kind = pickShare(mix, random());
    const earlier =
      kind === 'repeat'
        ? any.pick(at, lookback, random)
        : kind === 'paraphrase'
          ? oneTurn.pick(at, lookback, random)
          : kind === 'template'
            ? filled.pick(at, lookback, random)
            : undefined;
    const request = earlier
      ? reuse(kind, earlier, base, random)
      : ask(nextMeaning++, pickShare(NEW_SHAPES, random()), base, random);
    out.push(request);
    any.items.push(request);
    if (request.keys.meaning) oneTurn.items.push(request);
    if (request.keys.template) filled.items.push(request);
  }
  return out;
}

type Base = Pick<DayRequest, 'at' | 'userId' | 'webhook'>;

/** A new question, number `m`, in the given shape. */
function ask(m: number, shape: NewShape, base: Base, random: () => number): DayRequest {
  const kind = 'new';
  if (shape === 'template') return fill(m, base, kind, random() < 0.5);
  const { taskType, content } = promptOf(m, false);
  if (shape === 'chat') {
    const messages = [
      { role: 'user' as const, content },
      { role: 'assistant' as const, content: 'Here is a first answer.' },
      { role: 'user' as const, content: `Now shorter, in at most ${10 + (m % 40)} words.` },
    ];
    const body = { userId: base.userId, taskType: taskType as TaskType, messages };
    const keys = { exact: JSON.stringify(['chat', messages]) };
    return { ...base, kind, shape, variant: 0, body, keys };
  }
  return prompt(m, 0, shape, base, kind);
}

/** Question `m` in wording `variant` (0…7), plain or asking for JSON. */
function prompt(
  m: number,
  variant: number,
  shape: NewShape,
  base: Base,
  kind: RequestKind,
): DayRequest {
  const { taskType, content } = promptOf(m, variant % 2 === 1);
  const text = `${OPENINGS[Math.floor(variant / 2)]}${content}`;
  const json = shape === 'json';
  const body = {
    userId: base.userId,
    taskType: taskType as TaskType,
    prompt: text,
    ...(json && { responseFormat: JSON_FORMAT }),
  };
  const format = json ? 'json' : 'text';
  return {
    ...base,
    kind,
    shape,
    variant,
    body,
    keys: { exact: JSON.stringify([format, taskType, text]), meaning: `${format}:${m}` },
  };
}

/** Template parameters number `m` (product titles and ticket triage alternate), as typed. */
function fill(m: number, base: Base, kind: RequestKind, shouted: boolean): DayRequest {
  const subject = subjects[m % subjects.length] as string;
  const ref = `${kind}-${base.at}-${base.userId}`;
  if (m % 2 === 0) {
    const product = `${subject} model ${m}`;
    const params = { product: shouted ? product.toUpperCase() : product, requestId: ref };
    return {
      ...base,
      kind,
      shape: 'template',
      variant: 0,
      body: { userId: base.userId, taskType: 'formatting', template: 'product-title', params },
      keys: {
        exact: JSON.stringify(['product-title', params.product]),
        template: `product-title:${m}`,
      },
    };
  }
  const params = { subject: `Trouble with ${subject}`, body: `Case ${m}: it stopped working.` };
  return {
    ...base,
    kind,
    shape: 'template',
    variant: 0,
    body: {
      userId: base.userId,
      taskType: 'classification',
      template: 'ticket-triage',
      params: { ...params, ticketId: ref },
    },
    keys: {
      exact: JSON.stringify(['ticket-triage', params.subject, params.body]),
      template: `ticket-triage:${m}`,
    },
  };
}

/** `kind` of an earlier request: the same body, another wording, or the same parameters. */
function reuse(kind: RequestKind, earlier: DayRequest, base: Base, random: () => number) {
  if (kind === 'repeat') {
    return { ...earlier, ...base, kind, body: { ...earlier.body, userId: base.userId } };
  }
  const m = meaningOf(earlier);
  if (kind === 'template') return fill(m, base, kind, random() < 0.5);
  // Another of the 8 wordings than the earlier one's.
  const variant = (earlier.variant + 1 + Math.floor(random() * (VARIANTS - 1))) % VARIANTS;
  return prompt(m, variant, earlier.shape, base, kind);
}

const meaningOf = (r: DayRequest) =>
  Number((r.keys.meaning ?? r.keys.template ?? '').split(':').at(-1));
