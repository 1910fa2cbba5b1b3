import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { imageNodeArgs } from '../../bench/idle-worker.ts';
import { parseDuration } from '../../shared/config/duration.ts';
import { envSpec } from '../../shared/config/env-spec.ts';
import { loadConfig } from '../../shared/config/load-config.ts';
import { assertProcessRequirements } from '../../shared/config/process-requirements.ts';
import {
  CoolifyComposeError,
  type CoolifyManifest,
  composeFileMounts,
  coolifyDeployRequest,
  toCoolifyServiceCompose,
} from '../../workers/coolify.ts';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  ports?: string[];
  volumes?: (string | Record<string, unknown>)[];
  healthcheck?: { test: string[] };
  restart?: string;
  init?: boolean;
  stop_grace_period?: string;
  container_name?: string;
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, ComposeService>;
  'x-lowburn-env': Record<string, string>;
}

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const composeText = read('docker-compose.yml');
const redisConf = read('infra/redis.conf');
const manifest = JSON.parse(read('coolify.json')) as CoolifyManifest;
const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
const parseCompose = (text: string) => parse(text, { merge: true }) as Compose;
const compose = parseCompose(composeText);
const services = compose.services;
const appEnv = compose['x-lowburn-env'];
const service = (name: string): ComposeService => {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
};
const lowburnServices = Object.keys(services).filter((name) =>
  service(name).image?.startsWith('${LOWBURN_IMAGE:-'),
);
const isSecretInSpec = (name: string) => {
  const spec = envSpec[name as keyof typeof envSpec] as { secret?: boolean };
  return spec.secret === true;
};

interface Reference {
  name: string;
  default: string | undefined;
}

/** `${NAME}` / `${NAME:-default}` references compose interpolates, nested defaults included. */
function references(text: string): Reference[] {
  const found: Reference[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') continue;
    if (text[i + 1] === '$') {
      i++; // `$$` is a literal `$` for the container's shell
      continue;
    }
    if (text[i + 1] !== '{') continue;
    let depth = 0;
    let end = i + 1;
    for (; end < text.length; end++) {
      if (text[end] === '{') depth++;
      else if (text[end] === '}' && --depth === 0) break;
    }
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/.exec(text.slice(i + 2, end));
    if (!match?.[1]) throw new Error(`unsupported interpolation in "${text}"`);
    found.push({ name: match[1], default: match[2] });
    if (match[2]) found.push(...references(match[2]));
    i = end;
  }
  return found;
}

/** What `docker compose up` substitutes: a set variable, else its default (none set: no .env). */
function resolve(text: string, vars: Record<string, string> = {}): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^{}]|\{[^{}]*\})*))?\}/g,
    (_, name: string, d?: string) => vars[name] || resolve(d ?? '', vars),
  );
}

/** The lowburn environment as compose hands it to a container, given the operator's variables. */
function resolvedAppEnv(vars: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(appEnv).map(([k, v]) => [k, resolve(String(v), vars)]));
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** `${A:-${B…}}`: docker-compose 1.x and some other Compose implementations keep it as text. */
const nestedDefaults = (texts: string[]) => texts.filter((t) => /\$\{[^}]*\$\{/.test(t));

/**
 * The fixed host ports among a service's published ports (`[ip:]host:container`): a second
 * copy cannot bind the same one, so `--scale` fails. A range (`3000-3009:3000`), which Compose
 * hands out per copy, or no host port is fine.
 */
const fixedHostPorts = (ports: string[]) =>
  ports.map((p) => resolve(p).split(':').slice(0, -1).at(-1) ?? '').filter((h) => /^\d+$/.test(h));

/** The comment lines right above a top-level service's key. */
function commentAbove(name: string): string {
  const lines = composeText.split('\n');
  const at = lines.indexOf(`  ${name}:`);
  let start = at;
  while (start > 0 && lines[start - 1]?.trim().startsWith('#')) start--;
  return lines.slice(start, at).join('\n');
}

const allReferences = strings(compose).flatMap(references);
const referenced = new Set(allReferences.map((r) => r.name));

describe('coolify.json and docker-compose.yml', () => {
  it('declare the same variables', () => {
    expect(manifest.env.map((v) => v.name).sort()).toEqual([...referenced].sort());
  });

  it('give every variable one default, in both files', () => {
    for (const name of referenced) {
      const defaults = new Set(allReferences.filter((r) => r.name === name).map((r) => r.default));
      expect([...defaults], name).toHaveLength(1);
      expect(defaults.has(undefined), `${name} has no default`).toBe(false);
      expect(manifest.env.find((v) => v.name === name)?.default, name).toBe([...defaults][0]);
    }
  });

  it('nest no default inside another, which some Compose implementations pass on as text', () => {
    const nested = `\${A:-\${B:-c}}`;
    expect(nestedDefaults([nested, `x \${A:-a} \${B:-b}`])).toEqual([nested]);
    expect(nestedDefaults(strings(compose))).toEqual([]);
    expect(nestedDefaults(manifest.env.map((v) => v.default ?? ''))).toEqual([]);
  });

  it('mark a service scalable only when a second copy can start', () => {
    expect(
      fixedHostPorts([`127.0.0.1:\${P:-3000}:3000`, '3000-3009:3000', '127.0.0.1::3000']),
    ).toEqual(['3000']);
    for (const [name, s] of Object.entries(services)) {
      if (!manifest.services[name]?.scalable) continue;
      expect({ [name]: s.container_name }).toEqual({ [name]: undefined });
      expect({ [name]: fixedHostPorts(s.ports ?? []) }).toEqual({ [name]: [] });
    }
    // The quick start's API on :3000 is one container; Coolify reaches it through its proxy.
    expect(manifest.services.api?.scalable).toBe(false);
  });

  it("give lowburn Coolify's generated MinIO credentials, or the S3 keys an operator sets", () => {
    const generated = { SERVICE_USER_MINIO: 'gen-user', SERVICE_PASSWORD_MINIO: 'gen-password-1' };
    const keys = (vars: Record<string, string>) => {
      const storage = loadConfig(resolvedAppEnv(vars)).storage;
      return storage.driver === 's3' ? [storage.accessKeyId, storage.secretAccessKey] : [];
    };
    const minio = service('minio').environment ?? {};
    expect(
      [minio.MINIO_ROOT_USER, minio.MINIO_ROOT_PASSWORD].map((v) => resolve(String(v), generated)),
    ).toEqual(['gen-user', 'gen-password-1']);
    expect(keys(generated)).toEqual(['gen-user', 'gen-password-1']);
    const r2 = { ...generated, S3_ACCESS_KEY_ID: 'r2-id', S3_SECRET_ACCESS_KEY: 'r2-secret' };
    expect(keys(r2)).toEqual(['r2-id', 'r2-secret']);
  });

  it('leave no bare $VAR for compose to interpolate by accident', () => {
    const bare = strings(compose).filter((s) => /(^|[^$])\$[A-Za-z_]/.test(s.replaceAll('$$', '')));
    expect(bare).toEqual([]);
  });

  it('mark lowburn variables secret exactly when env-spec does', () => {
    const wrong = [...manifest.env, ...manifest.appEnv]
      .filter((v) => v.name in envSpec && v.secret !== isSecretInSpec(v.name))
      .map((v) => v.name);
    expect(wrong).toEqual([]);
  });

  it('mark the credentials Coolify generates as generated secrets', () => {
    const generated = manifest.env.filter((v) =>
      /^SERVICE_(USER|PASSWORD|REALBASE64)_/.test(v.name),
    );
    expect(generated.length).toBeGreaterThan(0);
    for (const v of generated)
      expect({ [v.name]: [v.secret, v.generated] }).toEqual({ [v.name]: [true, true] });
  });

  it('list the lowburn environment, which names only variables lowburn reads', () => {
    expect(manifest.appEnv.map((v) => v.name).sort()).toEqual(Object.keys(appEnv).sort());
    expect(Object.keys(appEnv).filter((name) => !(name in envSpec))).toEqual([]);
  });

  it('describe the same services', () => {
    expect(Object.keys(manifest.services).sort()).toEqual(Object.keys(services).sort());
  });

  it('give only the board and the API a domain, declared by their Coolify magic variables', () => {
    const withDomain = Object.entries(manifest.services).filter(([, s]) => s.domain !== false);
    expect(withDomain.map(([name]) => name).sort()).toEqual(['api', 'board']);
    for (const name of ['api', 'board']) {
      const domain = manifest.services[name]?.domain;
      if (!domain) throw new Error(`${name} has no domain`);
      expect(domain.variable).toBe(`SERVICE_URL_${name.toUpperCase()}_${domain.port}`);
      expect(service(name).environment).toHaveProperty(domain.variable);
    }
  });
});

describe('the lowburn services', () => {
  it('all receive the whole lowburn environment', () => {
    expect(lowburnServices.sort()).toEqual(['api', 'board', 'migrate', 'worker']);
    for (const name of lowburnServices) expect(service(name).environment).toMatchObject(appEnv);
  });

  it('give SECRETS_KEY, generated as 32 bytes of base64, only to the processes that use it', () => {
    const withKey = lowburnServices.filter((name) => service(name).environment?.SECRETS_KEY);
    expect(withKey.sort()).toEqual(['migrate', 'worker']);
    for (const name of withKey) {
      const environment = service(name).environment ?? {};
      expect(environment.SECRETS_KEY).toMatch(/^\$\{SERVICE_REALBASE64_32_SECRETS:-/);
      const env = Object.fromEntries(
        Object.entries(environment).map(([k, v]) => [k, resolve(String(v ?? ''))]),
      );
      // With no .env the worker boots: the default is a valid key, and it is the worker's.
      expect(() => assertProcessRequirements(loadConfig(env), 'worker')).not.toThrow();
    }
  });

  it('get an environment the config schema accepts with no .env', () => {
    const config = loadConfig(resolvedAppEnv());
    expect(config.env).toBe('production');
    expect(config.storage.driver).toBe('s3');
  });

  it('give the board an operator and a viewer login, with passwords Coolify generates', () => {
    const generated = {
      SERVICE_PASSWORD_BOARD: 'generated-operator-1',
      SERVICE_PASSWORD_BOARDVIEWER: 'generated-viewer-1',
    };
    const board = loadConfig(resolvedAppEnv(generated)).board;
    expect(board).toMatchObject({
      username: 'admin',
      password: 'generated-operator-1',
      viewerUsername: 'viewer',
      viewerPassword: 'generated-viewer-1',
    });
    expect(() => assertProcessRequirements(loadConfig(resolvedAppEnv()), 'board')).not.toThrow();
  });

  it('share one image, built from the Dockerfile by docker compose', () => {
    for (const name of lowburnServices) {
      expect(service(name).image).toBe(`\${LOWBURN_IMAGE:-lowburn:local}`);
      expect(service(name).build).toBe('.');
    }
  });

  it('run under an init when they are long-running', () => {
    for (const name of lowburnServices.filter((n) => service(n).restart !== 'no')) {
      expect(service(name).init, name).toBe(true);
    }
  });

  it('start the worker after migrations ran and the bucket exists', () => {
    expect(service('worker').depends_on).toEqual({
      migrate: { condition: 'service_completed_successfully' },
      'minio-init': { condition: 'service_completed_successfully' },
      redis: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
      // Not the model pull: telemetry, exports and webhooks must not wait for a 2 GB download.
      ollama: { condition: 'service_started' },
    });
    expect(service('ollama-pull').depends_on).toEqual({ ollama: { condition: 'service_healthy' } });
    expect(service('migrate').command).toEqual(['migrate', 'up']);
    expect(service('migrate').depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it('give the worker longer to stop than it takes to drain', () => {
    const stop = parseDuration(service('worker').stop_grace_period ?? '');
    const grace = parseDuration(resolve(appEnv.SHUTDOWN_GRACE ?? ''));
    const specGrace = parseDuration(envSpec.SHUTDOWN_GRACE.default ?? '');
    expect(stop).toBeGreaterThan(grace ?? Number.POSITIVE_INFINITY);
    expect(stop).toBeGreaterThan(specGrace ?? Number.POSITIVE_INFINITY);
  });

  it('keep the worker scalable', () => {
    expect(service('worker').container_name).toBeUndefined();
    expect(service('worker').ports).toBeUndefined();
    expect(manifest.services.worker?.scalable).toBe(true);
  });

  it('probe the ports lowburn listens on', () => {
    for (const [name, port] of [
      ['worker', appEnv.HEALTH_PORT],
      ['board', appEnv.BOARD_PORT],
    ] as const) {
      expect(service(name).healthcheck?.test.join(' ')).toContain(
        `http://127.0.0.1:${port}/healthz`,
      );
      expect(manifest.services[name]?.healthcheck).toEqual({
        kind: 'http',
        port: Number(port),
        path: '/healthz',
      });
    }
  });
});

describe('every service', () => {
  it('has a restart policy, and a health check unless it runs once', () => {
    for (const [name, s] of Object.entries(services)) {
      const oneShot = s.restart === 'no';
      expect([name, s.restart]).toEqual([name, oneShot ? 'no' : 'unless-stopped']);
      expect([name, s.healthcheck === undefined]).toEqual([name, oneShot]);
      expect([name, manifest.services[name]?.oneShot]).toEqual([name, oneShot]);
      expect([name, manifest.services[name]?.healthcheck === null]).toEqual([name, oneShot]);
    }
  });

  it('sits below the comment that describes it', () => {
    expect(commentAbove('migrate')).toMatch(/^ *# One-shot: applies pending migrations/m);
    expect(commentAbove('ollama')).not.toMatch(/migrat/);
    for (const name of Object.keys(services)) {
      if (/One-shot/.test(commentAbove(name)))
        expect([name, service(name).restart]).toEqual([name, 'no']);
    }
  });

  it('stays off host ports, except the board and the API on loopback', () => {
    expect(service('redis').ports).toBeUndefined();
    expect(service('postgres').ports).toBeUndefined();
    const published = Object.entries(services).filter(([, s]) => s.ports !== undefined);
    expect(published.map(([name]) => name).sort()).toEqual(['api', 'board']);
    expect(service('board').ports?.map((p) => resolve(p))).toEqual([
      `127.0.0.1:3001:${appEnv.BOARD_PORT}`,
    ]);
    expect(service('api').ports?.map((p) => resolve(p))).toEqual([
      `127.0.0.1:3000:${appEnv.API_PORT}`,
    ]);
  });
});

describe('the data services', () => {
  it('run Redis with AOF fsynced every second and no eviction', () => {
    expect(redisConf).toMatch(/^appendonly yes$/m);
    expect(redisConf).toMatch(/^appendfsync everysec$/m);
    expect(redisConf).toMatch(/^maxmemory-policy noeviction$/m);
    const redis = service('redis');
    const [server, conf, ...args] = redis.command ?? [];
    expect([server, args[0]]).toEqual(['redis-server', '--requirepass']);
    expect(args).toHaveLength(2);
    expect(redis.volumes).toContain(`./infra/redis.conf:${conf}:ro`);
    expect(redis.volumes).toContain('redis-data:/data');
  });

  it('use the same credentials at both ends of every connection', () => {
    const env = (name: string, key: string) => resolve(String(service(name).environment?.[key]));
    const password = resolve(service('redis').command?.[3] ?? '');
    expect(resolve(appEnv.REDIS_URL ?? '')).toBe(`redis://:${password}@redis:6379`);
    expect(env('redis', 'REDISCLI_AUTH')).toBe(password);
    expect(resolve(appEnv.DATABASE_URL ?? '')).toBe(
      `postgres://${env('postgres', 'POSTGRES_USER')}:${env('postgres', 'POSTGRES_PASSWORD')}@postgres:5432/${env('postgres', 'POSTGRES_DB')}`,
    );
    const storage = loadConfig(resolvedAppEnv()).storage;
    expect(storage.driver === 's3' && [storage.accessKeyId, storage.secretAccessKey]).toEqual([
      env('minio', 'MINIO_ROOT_USER'),
      env('minio', 'MINIO_ROOT_PASSWORD'),
    ]);
    expect(env('minio-init', 'MINIO_ROOT_USER')).toBe(env('minio', 'MINIO_ROOT_USER'));
  });

  it('create the bucket the default STORAGE_URL names', () => {
    const bucket = resolve(appEnv.STORAGE_URL ?? '')
      .replace(/^s3:\/\//, '')
      .split('/')[0];
    expect(service('minio-init').command?.join(' ')).toContain(
      `mc mb --ignore-existing local/${bucket}`,
    );
    expect(service('minio-init').depends_on).toEqual({ minio: { condition: 'service_healthy' } });
  });
});

describe('coolifyDeployRequest', () => {
  const image = 'ghcr.io/acme/lowburn:1.4.0';
  const files = { 'infra/redis.conf': redisConf };
  const body = coolifyDeployRequest({
    compose: composeText,
    manifest,
    serverUuid: 'srv-uuid',
    projectUuid: 'prj-uuid',
    image,
    files,
  });
  const sent = Buffer.from(body.docker_compose_raw, 'base64').toString('utf8');

  it('sends only fields Coolify accepts for a custom compose service', () => {
    expect(body).toEqual({
      name: 'lowburn',
      description: manifest.description,
      server_uuid: 'srv-uuid',
      project_uuid: 'prj-uuid',
      environment_name: 'production',
      instant_deploy: false,
      docker_compose_raw: expect.any(String),
    });
    expect(Buffer.from(sent, 'utf8').toString('base64')).toBe(body.docker_compose_raw);
  });

  it('sends the compose file, changed only where a Coolify service needs it', () => {
    expect(sent).toBe(toCoolifyServiceCompose(composeText, { image, files }));
    const expected = parseCompose(composeText);
    const app = (expected as unknown as Record<string, ComposeService>)['x-lowburn-app'];
    for (const s of [app, ...lowburnServices.map((name) => expected.services[name])]) {
      if (!s) throw new Error('missing lowburn service');
      delete s.build;
      s.image = `\${LOWBURN_IMAGE:-${image}}`;
    }
    const redis = expected.services.redis as ComposeService;
    redis.volumes = [
      {
        type: 'bind',
        source: './infra/redis.conf',
        target: '/usr/local/etc/redis/redis.conf',
        read_only: true,
        content: redisConf,
      },
      'redis-data:/data',
    ];
    expect(parseCompose(sent)).toEqual(expected);
  });

  it('finds the files the compose file mounts', () => {
    expect(composeFileMounts(composeText)).toEqual(['infra/redis.conf']);
  });

  it('keeps to ASCII, which Coolify requires', () => {
    expect(sent).toMatch(/^[\t\n\r\x20-\x7e]*$/);
    expect(() =>
      coolifyDeployRequest({ compose: `${composeText}# caf\u00e9\n`, manifest }),
    ).toThrow(CoolifyComposeError);
  });

  it('refuses a build it cannot drop', () => {
    const compose = 'services:\n  app:\n    build:\n      context: .\n';
    expect(() => toCoolifyServiceCompose(compose)).toThrow(CoolifyComposeError);
  });
});

describe('the image', () => {
  const dockerfile = read('Dockerfile');

  it('runs the CLI as the unprivileged node user, the worker by default', () => {
    expect(dockerfile).toMatch(/^FROM node:24-slim AS deps$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(
      /^ENTRYPOINT \["node", "--max-semi-space-size=\d+", "build\/workers\/cli\.js"\]$/m,
    );
    expect(dockerfile).toMatch(/^CMD \["worker"\]$/m);
  });

  it('gives the worker service alone a 4 MB young generation; the others keep the image’s 8', () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    const image = JSON.parse(entrypoint ?? '[]') as string[];
    expect(image).toEqual(['node', '--max-semi-space-size=8', 'build/workers/cli.js']);
    // The image's entrypoint, the flag alone changed: a new flag in the image reaches it too.
    expect(service('worker').entrypoint).toEqual(
      image.map((arg) => arg.replace('--max-semi-space-size=8', '--max-semi-space-size=4')),
    );
    for (const name of lowburnServices.filter((n) => n !== 'worker')) {
      expect(service(name).entrypoint, name).toBeUndefined();
    }
    // Coolify gets the override as it is, and bench:queue measures the worker with it.
    const sentToCoolify = parseCompose(
      toCoolifyServiceCompose(composeText, { image: 'lowburn:1' }),
    );
    expect(sentToCoolify.services.worker?.entrypoint).toEqual(service('worker').entrypoint);
    expect(imageNodeArgs(dockerfile, composeText)).toEqual([
      '--max-semi-space-size=4',
      'build/workers/cli.js',
    ]);
    expect(imageNodeArgs(dockerfile, 'services:\n  worker:\n    command: ["worker"]\n')).toEqual([
      '--max-semi-space-size=8',
      'build/workers/cli.js',
    ]);
  });

  it('runs the fleet compiled in a build stage, never the TypeScript sources', () => {
    const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));
    const build = stages.find((s) => /^FROM node:24-slim AS build$/m.test(s));
    const final = stages.at(-1) ?? '';
    expect(build).toMatch(/^RUN npm run build$/m);
    expect(packageJson.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(final).toMatch(/^COPY --from=build \/app\/build \.\/build$/m);
    // Only the compiled output and the production dependencies reach the running image.
    expect(final).not.toMatch(/^COPY \. /m);
    expect(final).toMatch(/^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
    expect(final).not.toMatch(/\.ts\b/);
  });

  it('bakes in no secret and copies only the allowlisted sources', () => {
    expect(dockerfile).not.toMatch(/^(ARG|ENV)\s+\S*(PASSWORD|SECRET|TOKEN|_KEY|_URL)/im);
    const ignore = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore.filter((l) => l.startsWith('!')).sort()).toEqual(
      [
        '!api/',
        '!bin/',
        '!jobs/',
        '!package-lock.json',
        '!package.json',
        '!shared/',
        '!workers/',
        '!tsconfig.json',
        '!tsconfig.build.json',
      ].sort(),
    );
  });
});
