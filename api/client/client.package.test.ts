import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIST = path.join(ROOT, 'dist');
const ENTRY = path.join(DIST, 'api/client/index.js');
const run = promisify(execFile);
// The Node running this test, first on PATH, for npm's scripts (and tsc's `#!/usr/bin/env node`).
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };

/** Every module `entry` loads (relative imports, followed) and every bare specifier it imports. */
async function importGraph(entry: string) {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = async (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = await readFile(file, 'utf8');
    const specifiers = text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s*["']([^"']+)["']/g);
    const dynamic = text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g);
    for (const [, specifier = ''] of [...specifiers, ...dynamic]) {
      if (specifier.startsWith('.')) await visit(path.resolve(path.dirname(file), specifier));
      else external.add(specifier);
    }
  };
  await visit(entry);
  return { files: [...files].map((f) => path.relative(ROOT, f)), external: [...external] };
}

describe('the published client (lowburn/client)', () => {
  beforeAll(async () => {
    // From nothing, so a file left over from an earlier build cannot make this pass.
    await rm(DIST, { recursive: true, force: true });
    await run('npm', ['run', '--silent', 'build:client'], { cwd: ROOT, env });
  }, 60_000);

  it('loads from the package export and talks to the API', async () => {
    const specifier = 'lowburn/client'; // A variable: tsc must not resolve it before the build.
    const built = await import(specifier);
    expect(import.meta.resolve(specifier)).toBe(pathToFileURL(ENTRY).href);
    const sent: Request[] = [];
    const client = built.createClient({
      baseUrl: 'https://lowburn.test',
      apiKey: 'lb_test',
      fetch: async (input: string, init: RequestInit) => {
        sent.push(new Request(input, init));
        return Response.json(
          { error: { code: 'forbidden', message: 'admin scope required' } },
          { status: 403 },
        );
      },
    });

    const error = await client.pipelines.run('export-cold').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(built.LowburnApiError);
    expect(error).toMatchObject({ name: 'LowburnApiError', status: 403, code: 'forbidden' });
    expect(sent[0]?.url).toBe('https://lowburn.test/v1/pipelines/export-cold/runs');
    expect(sent[0]?.headers.get('authorization')).toBe('Bearer lb_test');
  });

  it('loads no zod, no node: module and no other package at run time', async () => {
    const graph = await importGraph(ENTRY);

    expect(graph.files).toContain('dist/api/client/transport.js');
    expect(graph.files.every((f) => f.startsWith('dist/api/client/'))).toBe(true);
    expect(graph.external).toEqual([]);
  });

  it('gives a consumer its types through the export', async () => {
    // A consumer inside the package, so `lowburn/client` resolves by self-reference; it is built
    // for the Web platform (no Node types), like a Next.js edge route.
    const dir = path.join(DIST, 'consumer-check');
    await mkdir(dir, { recursive: true });
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        types: [],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
      files: ['consumer.ts'],
    };
    const consumer = `
      import { createClient, LowburnApiError, type JobStatus } from 'lowburn/client';

      export async function summarise(text: string): Promise<JobStatus> {
        const lowburn = createClient({ baseUrl: 'https://lowburn.test', apiKey: 'lb_test' });
        const { id, status } = await lowburn.generations.create({
          userId: 'u1',
          taskType: 'summary',
          prompt: text,
        });
        const queued: 'queued' = status;
        // @ts-expect-error taskType is one of the schema's task types
        await lowburn.generations.create({ userId: 'u1', taskType: 'poetry', prompt: text });
        try {
          return await lowburn.jobs.wait(id, { timeoutMs: 30_000 });
        } catch (error) {
          if (error instanceof LowburnApiError && error.code === 'not_found') throw error;
          // @ts-expect-error codes are the schema's error codes
          if (error instanceof LowburnApiError && error.code === 'teapot') throw error;
          throw new Error(queued);
        }
      }

      export async function replay(id: string): Promise<'pending'> {
        const lowburn = createClient({ baseUrl: 'https://lowburn.test', apiKey: 'lb_admin' });
        const { status, previousStatus } = await lowburn.webhooks.replay(id);
        // @ts-expect-error previous statuses are the ledger's delivery statuses
        if (previousStatus === 'lost') throw new Error(previousStatus);
        return status;
      }
    `;
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    await writeFile(path.join(dir, 'consumer.ts'), consumer);

    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    // tsc prints its diagnostics on stdout; surface them as the failure message.
    await run(process.execPath, [tsc, '-p', dir], { cwd: ROOT }).catch(
      (error: Error & { stdout?: string }) => {
        throw new Error(error.stdout || error.message);
      },
    );
  }, 30_000);
});
