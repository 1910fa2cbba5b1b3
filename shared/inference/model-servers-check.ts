import { serverLabel } from './model-servers.ts';

/** What one server's `/api/tags` says of the models the fleet needs. */
interface ServerModels {
  url: string;
  /** Each needed model's digest, `undefined` when not listed; unset when unreachable. */
  digests?: Map<string, string | undefined>;
  error?: string;
}

/** What the boot check found. */
export interface ModelServersCheck {
  /** Servers that disagree with the others: a model missing or of another digest. Refused. */
  mismatches: string[];
  /** Servers that could not be read, or models no server lists: warned, not refused. */
  warnings: string[];
}

async function readServer(url: string, models: string[], timeoutMs: number): Promise<ServerModels> {
  try {
    const response = await fetch(`${url.replace(/\/+$/, '')}/api/tags`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) return { url, error: `GET /api/tags answered HTTP ${response.status}` };
    const body = (await response.json()) as {
      models?: { name?: string; model?: string; digest?: string }[];
    };
    const listed = body.models ?? [];
    const digests = new Map<string, string | undefined>();
    for (const model of models) {
      const names = new Set([model, model.includes(':') ? model : `${model}:latest`]);
      const found = listed.find((m) => names.has(m.name ?? '') || names.has(m.model ?? ''));
      digests.set(model, found ? (found.digest ?? '') : undefined);
    }
    return { url, digests };
  } catch (error) {
    const e = error as Error;
    return { url, error: (e.cause as Error | undefined)?.message ?? e.message };
  }
}

/**
 * Reads every server's model list at boot: each must serve `LOCAL_MODEL` and `EMBED_MODEL`
 * with the same digest as the others, or one server's answers (and embeddings, which the
 * semantic index compares across the fleet) would differ from the rest's under one cache
 * namespace. A server that cannot be read now is only warned about: it is skipped until its
 * probe answers, as at any other time.
 */
export async function checkModelServers(options: {
  urls: readonly string[];
  localModel: string;
  embedModel: string;
  timeoutMs?: number;
}): Promise<ModelServersCheck> {
  const models = [...new Set([options.localModel, options.embedModel])];
  const setting = (model: string) =>
    model === options.localModel ? `LOCAL_MODEL (${model})` : `EMBED_MODEL (${model})`;
  const read = await Promise.all(
    options.urls.map((url) => readServer(url, models, options.timeoutMs ?? 3_000)),
  );
  const result: ModelServersCheck = { mismatches: [], warnings: [] };
  for (const server of read) {
    if (server.error) {
      result.warnings.push(
        `model server ${serverLabel(server.url)} could not be read: ${server.error}`,
      );
    }
  }
  const answered = read.filter((s) => s.digests);
  for (const model of models) {
    const serving = answered.filter((s) => s.digests?.get(model) !== undefined);
    if (serving.length === 0) {
      if (answered.length > 0) {
        result.warnings.push(
          `no model server lists ${setting(model)}: pull it (ollama pull ${model}) on ${answered.map((s) => serverLabel(s.url)).join(', ')}`,
        );
      }
      continue;
    }
    for (const server of answered) {
      if (server.digests?.get(model) === undefined) {
        result.mismatches.push(
          `model server ${serverLabel(server.url)} does not serve ${setting(model)}, which ${serverLabel(serving[0]!.url)} does: pull it there (ollama pull ${model})`,
        );
      }
    }
    // The digest most servers have is the reference; the others are named.
    const counts = new Map<string, number>();
    for (const s of serving) {
      const d = s.digests?.get(model) ?? '';
      counts.set(d, (counts.get(d) ?? 0) + 1);
    }
    const reference = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const holder = serving.find((s) => s.digests?.get(model) === reference)!;
    for (const server of serving) {
      const digest = server.digests?.get(model) ?? '';
      if (digest !== reference) {
        result.mismatches.push(
          `model server ${serverLabel(server.url)} serves another ${setting(model)} (digest ${digest.slice(0, 12)}) than ${serverLabel(holder.url)} (${reference.slice(0, 12)}): pull the same model on every server`,
        );
      }
    }
  }
  return result;
}
