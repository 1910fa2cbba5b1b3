import { type Command, InvalidArgumentError } from 'commander';
import { cacheLayers } from '../shared/inference/answer-cache.ts';
import type { CachePurgeResult } from '../shared/inference/cache-purge.ts';
import {
  type CachePurgeSelector,
  cachePurgeSelectorSchema,
  messagesIn,
} from '../shared/inference/cache-purge-selector.ts';
import { withRedis } from './cli-clients.ts';
import { renderTable } from './text-table.ts';

interface PurgeOptions {
  taskType?: string;
  template?: string;
  prompt?: string;
  key?: string;
  namespace?: string;
  scope?: string;
  dryRun?: boolean;
  json?: boolean;
}

const FLAGS: Record<string, string> = {
  taskType: '--task-type',
  template: '--template',
  prompt: '--prompt',
  messages: '--prompt',
  key: '--key',
  namespace: '--namespace',
  scope: '--scope',
};
const SHOWN_NAMESPACES = 20;

/**
 * Adds `lowburn cache purge`: removes cached answers from every layer, and their semantic
 * entries from every worker's index, by task type, template, prompt, key or namespace.
 */
export function registerCacheCommand(program: Command): void {
  const cache = program.command('cache').description('remove cached answers');

  cache
    .command('purge')
    .description("remove cached answers from every layer and every worker's semantic index")
    .option('--task-type <type>', 'every namespace of this task type')
    .option('--template <id[@version]>', 'every namespace of this template (all versions, or one)')
    .option(
      '--prompt <text>',
      'a prompt as it was sent (whitespace aside), or a chat as JSON: [{"role":"user","content":"…"}]',
    )
    .option('--key <key>', 'a cache key as stored: an exact key or a template key')
    .option('--namespace <id>', 'one namespace (24 hex digits), whole')
    .option('--scope <cache-scope>', 'only within this cache scope (narrows the others)')
    .option('--dry-run', 'print what would be removed; remove nothing')
    .option('--json', 'print one JSON object, for scripts')
    .action(async (opts: PurgeOptions) => {
      // Checked before connecting, so a typo fails fast with exit code 2.
      const selector = parseSelector(opts);
      const result = await withRedis(async (redis, config) => {
        const { purgeCache } = await import('../shared/inference/cache-purge.ts');
        return purgeCache({ redis, prefix: config.queuePrefix }, selector, {
          dryRun: opts.dryRun ?? false,
        });
      });
      console.log(opts.json ? JSON.stringify(result) : describePurge(result));
    });
}

/** The options as a selector; a prompt that is a JSON chat also names that chat's key. */
export function parseSelector(opts: PurgeOptions): CachePurgeSelector {
  const messages = opts.prompt === undefined ? undefined : messagesIn(opts.prompt);
  const parsed = cachePurgeSelectorSchema.safeParse({
    taskType: opts.taskType,
    template: opts.template,
    prompt: opts.prompt,
    messages,
    key: opts.key,
    namespace: opts.namespace,
    scope: opts.scope,
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = String(issue?.path[0] ?? '');
  if (!field) {
    throw new InvalidArgumentError(
      'say what to purge: one or more of --task-type, --template, --prompt, --key, --namespace (--scope only narrows them)',
    );
  }
  throw new InvalidArgumentError(`${FLAGS[field] ?? field}: ${issue?.message ?? 'invalid'}`);
}

export function describePurge(result: CachePurgeResult): string {
  const answers = cacheLayers.reduce((sum, layer) => sum + result.removed[layer], 0);
  const verb = result.dryRun ? 'Would remove' : 'Removed';
  const where = result.namespaces.length;
  const lines = [
    `${verb} ${answers} cached answer${answers === 1 ? '' : 's'} and ${result.vectors} semantic index entr${result.vectors === 1 ? 'y' : 'ies'} from ${where} namespace${where === 1 ? '' : 's'}${result.dryRun ? ' (dry run: nothing was removed)' : ''}.`,
    '',
    renderTable([
      ['LAYER', 'ANSWERS'],
      ...cacheLayers.map((layer) => [layer, String(result.removed[layer])]),
      ['semantic index', String(result.vectors)],
    ]),
  ];
  if (where > 0) {
    const rows = result.namespaces.slice(0, SHOWN_NAMESPACES).map((n) => {
      const parts = n.parts;
      return [
        n.namespace,
        parts?.taskType ?? '(not listed)',
        parts?.template ?? '-',
        parts?.scope ?? '-',
        parts?.user ?? '-',
        String(n.answers),
        String(n.vectors),
      ];
    });
    lines.push(
      '',
      renderTable([
        ['NAMESPACE', 'TASK', 'TEMPLATE', 'SCOPE', 'USER', 'ANSWERS', 'VECTORS'],
        ...rows,
      ]),
    );
    if (where > SHOWN_NAMESPACES) lines.push(`… and ${where - SHOWN_NAMESPACES} more (--json)`);
  }
  if (!result.dryRun && result.vectors > 0) {
    lines.push(
      '',
      'Running workers drop the semantic entries from memory as they read the removal.',
    );
  }
  return lines.join('\n');
}
