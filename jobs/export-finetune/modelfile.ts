import { Ollama } from 'ollama';

/** What the fine-tune's Modelfile takes from the local base model, as Ollama shows it. */
export interface BaseModel {
  name: string;
  /** Ollama's digest of the model (`/api/tags`), when listed. */
  digest: string | undefined;
  /** The base's prompt template (Go template syntax), verbatim. */
  template: string;
  /** `PARAMETER stop` values as Ollama lists them (quoted). */
  stops: string[];
  /** The base's system prompt; empty when it has none. */
  system: string;
  details: Record<string, unknown>;
}

/** Ollama could not be asked about the local model: the Modelfile cannot be written. */
export class BaseModelUnavailableError extends Error {
  constructor(model: string, url: string, cause: unknown) {
    super(
      `cannot read ${model}'s template and stop tokens from Ollama at ${url} (POST /api/show: ${
        cause instanceof Error ? cause.message : String(cause)
      }); check OLLAMA_URL and LOCAL_MODEL`,
      { cause },
    );
    this.name = 'BaseModelUnavailableError';
  }
}

const READ_TIMEOUT_MS = 10_000;

/** The local model's template, stop parameters, system prompt and digest, from Ollama. */
export async function readBaseModel(url: string, model: string): Promise<BaseModel> {
  const ollama = new Ollama({
    host: url,
    fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(READ_TIMEOUT_MS) }),
  });
  try {
    const [show, list] = await Promise.all([ollama.show({ model }), ollama.list()]);
    const names = new Set([model, `${model}:latest`]);
    const listed = list.models.find((m) => names.has(m.name) || names.has(m.model));
    return {
      name: model,
      digest: listed?.digest,
      template: show.template ?? '',
      stops: parameterValues(show.parameters ?? '', 'stop'),
      system: show.system ?? '',
      details: { ...show.details },
    };
  } catch (error) {
    throw new BaseModelUnavailableError(model, url, error);
  }
}

/**
 * The values of one parameter in `/api/show`'s `parameters` text, one `name   value` per line
 * (Ollama pads the name; values are quoted when they hold spaces or special tokens).
 */
export function parameterValues(parameters: string, name: string): string[] {
  const values: string[] = [];
  for (const line of parameters.split('\n')) {
    const match = /^(\S+)\s+(.+)$/.exec(line.trim());
    if (match?.[1] === name && match[2]) values.push(quoted(match[2].trim()));
  }
  return values;
}

const quoted = (value: string) =>
  value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value : JSON.stringify(value);

/**
 * A Modelfile for the fine-tune: `FROM` the base, `ADAPTER ./adapter` (the trained LoRA, to be
 * put there), and the base's own `TEMPLATE`, `PARAMETER stop` lines and `SYSTEM`. With `FROM` a
 * named Ollama model these would be inherited anyway; written out, they also hold when `FROM`
 * is changed to a merged GGUF, which inherits nothing and then never stops generating.
 */
export function renderModelfile(base: BaseModel, about: { version: string; prefix: string }) {
  const lines = [
    `# Modelfile for a fine-tune of ${base.name}, written by lowburn ${about.version} beside ${about.prefix}train.jsonl.`,
    `# Base digest: ${base.digest ?? 'unknown (not listed by Ollama)'}`,
    '# Train a LoRA adapter on train.jsonl (validation.jsonl to evaluate), put it at ./adapter',
    '# (a safetensors folder or a GGUF file), then: ollama create <name> -f Modelfile',
    "# TEMPLATE, the stop parameters and SYSTEM are the base's own (ollama /api/show).",
    `FROM ${base.name}`,
    'ADAPTER ./adapter',
  ];
  if (base.template) lines.push(`TEMPLATE ${tripleQuoted(base.template, 'TEMPLATE')}`);
  for (const stop of base.stops) lines.push(`PARAMETER stop ${stop}`);
  if (base.system) lines.push(`SYSTEM ${tripleQuoted(base.system, 'SYSTEM')}`);
  return `${lines.join('\n')}\n`;
}

function tripleQuoted(text: string, what: string): string {
  // The Modelfile format has no escape for a triple quote inside a triple-quoted value.
  if (text.includes('"""')) {
    throw new Error(`the base model's ${what} holds """, which a Modelfile cannot quote`);
  }
  return `"""${text}"""`;
}
