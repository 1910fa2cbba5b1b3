import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));
}

function relativeImports(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)].map((m) =>
    path.relative(ROOT, path.resolve(ROOT, path.dirname(file), m[1] ?? '')),
  );
}

describe('the import graph', () => {
  it('flows one way: shared/ never imports jobs/, api/ or workers/', () => {
    const bad = sources('shared').flatMap((file) =>
      relativeImports(file)
        .filter((target) => /^(jobs|api|workers)\//.test(target))
        .map((target) => `${file} → ${target}`),
    );
    expect(bad).toEqual([]);
  });

  it('keeps each job to itself: no job imports another job’s folder', () => {
    const bad = sources('jobs').flatMap((file) => {
      const own = file.split(path.sep)[1];
      return relativeImports(file)
        .filter((target) => target.startsWith('jobs/') && target !== 'jobs/index.ts')
        .filter((target) => target.split('/')[1] !== own && file !== 'jobs/index.ts')
        .map((target) => `${file} → ${target}`);
    });
    expect(bad).toEqual([]);
  });

  it('reads process.env only in workers/ (config is parsed once and passed in)', () => {
    const bad = ['shared', 'jobs']
      .flatMap(sources)
      .filter((file) =>
        /\bprocess\.env\s*[.[),;]/.test(readFileSync(path.join(ROOT, file), 'utf8')),
      );
    expect(bad).toEqual([]);
  });
});
