import type { Distribution } from '../../shared/finetune/manifest.ts';
import type { ChatMessage } from '../../shared/inference/request-keys.ts';

/** The cookbook's per-message overhead, and the reply priming added once per example. */
const TOKENS_PER_MESSAGE = 3;
const REPLY_PRIMING = 3;
/** `system`, `user` and `assistant` are one token each in o200k_base. */
const ROLE_TOKENS = 1;

type Count = (text: string) => number;

let exactCount: Count | undefined;

/** o200k_base (gpt-tokenizer), loaded at the first example that needs it: ~60 MB of tables. */
async function exact(): Promise<Count> {
  if (!exactCount) {
    const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
    // Text that spells a special token (`<|endoftext|>`) is counted as the text it is.
    const plain = { disallowedSpecial: new Set<string>() };
    exactCount = (text) => countTokens(text, plain);
  }
  return exactCount;
}

/** Tokens of one example, and whether they were counted exactly. */
export interface ExampleTokens {
  total: number;
  assistant: number;
  exact: boolean;
}

/**
 * Tokens of one example as the OpenAI cookbook counts a chat (per message 3 + role + content,
 * plus 3). An estimate — characters ÷ 4, OpenAI's rule of thumb — unless the example could be
 * over `limit`: no BPE token is shorter than one UTF-8 byte, so an example whose bytes fit is
 * surely under it; the others are counted exactly with o200k_base, so the drop decision is
 * never an estimate's. Synchronous for an estimate; a promise only when the tokenizer is needed.
 */
export function exampleTokens(
  messages: readonly ChatMessage[],
  limit: number,
): ExampleTokens | Promise<ExampleTokens> {
  let bound = REPLY_PRIMING;
  for (const m of messages) {
    bound += TOKENS_PER_MESSAGE + ROLE_TOKENS + Buffer.byteLength(m.content);
  }
  if (bound <= limit) return countWith(messages, estimate, false);
  return exact().then((count) => countWith(messages, count, true));
}

const estimate: Count = (text) => Math.ceil(text.length / 4);

function countWith(messages: readonly ChatMessage[], count: Count, exact: boolean): ExampleTokens {
  let total = REPLY_PRIMING;
  let assistant = 0;
  for (const message of messages) {
    const content = count(message.content);
    total += TOKENS_PER_MESSAGE + ROLE_TOKENS + content;
    if (message.role === 'assistant') assistant += content;
  }
  return { total, assistant, exact };
}

/** Per-example figures, kept as 4 bytes each so a million examples cost 12 MB. */
export class TokenStats {
  #total = new Uint32Array(1024);
  #assistant = new Uint32Array(1024);
  #messages = new Uint32Array(1024);
  #n = 0;

  add(tokens: { total: number; assistant: number }, messages: number): void {
    if (this.#n === this.#total.length) {
      const grow = (a: Uint32Array) => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#total = grow(this.#total);
      this.#assistant = grow(this.#assistant);
      this.#messages = grow(this.#messages);
    }
    this.#total[this.#n] = tokens.total;
    this.#assistant[this.#n] = tokens.assistant;
    this.#messages[this.#n] = messages;
    this.#n++;
  }

  get count(): number {
    return this.#n;
  }

  /** Sum of the examples' tokens. */
  get tokens(): number {
    let sum = 0;
    for (let i = 0; i < this.#n; i++) sum += this.#total[i] ?? 0;
    return sum;
  }

  summary(): {
    totalTokensPerExample: Distribution | null;
    assistantTokensPerExample: Distribution | null;
    messagesPerExample: Distribution | null;
  } {
    return {
      totalTokensPerExample: distribution(this.#total.subarray(0, this.#n)),
      assistantTokensPerExample: distribution(this.#assistant.subarray(0, this.#n)),
      messagesPerExample: distribution(this.#messages.subarray(0, this.#n)),
    };
  }
}

function distribution(values: Uint32Array): Distribution | null {
  if (values.length === 0) return null;
  const sorted = Uint32Array.from(values).sort();
  // numpy's default (linear) quantile, as the cookbook's np.quantile.
  const quantile = (q: number) => {
    const pos = (sorted.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, sorted.length - 1);
    return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (pos - lo);
  };
  return {
    min: sorted[0] ?? 0,
    median: quantile(0.5),
    p90: quantile(0.9),
    max: sorted[sorted.length - 1] ?? 0,
  };
}

/** The cookbook's default-epochs rule: aim at 3 epochs, but see 100–25,000 examples in all. */
const TARGET_EPOCHS = 3;
const MIN_TARGET_EXAMPLES = 100;
const MAX_TARGET_EXAMPLES = 25_000;
const MIN_DEFAULT_EPOCHS = 1;
const MAX_DEFAULT_EPOCHS = 25;

/** The epochs OpenAI trains by default and the tokens it bills for, per the cookbook. */
export function billingEstimate(
  trainExamples: number,
  trainTokens: number,
): { epochs: number; billingTokensPerEpoch: number; billedTokens: number } {
  let epochs = TARGET_EPOCHS;
  if (trainExamples > 0 && trainExamples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES) {
    epochs = Math.min(MAX_DEFAULT_EPOCHS, Math.floor(MIN_TARGET_EXAMPLES / trainExamples));
  } else if (trainExamples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES) {
    epochs = Math.max(MIN_DEFAULT_EPOCHS, Math.floor(MAX_TARGET_EXAMPLES / trainExamples));
  }
  // Over-long examples were dropped, so no example is billed at a cap.
  return { epochs, billingTokensPerEpoch: trainTokens, billedTokens: epochs * trainTokens };
}
