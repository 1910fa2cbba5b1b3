import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';

/** A compose service's entry in coolify.json (the schema is documented in its `$comment`). */
export interface CoolifyServiceEntry {
  /** `false`, or the container port Coolify proxies the generated domain to. */
  domain: false | { port: number; variable: string };
  oneShot: boolean;
  scalable: boolean;
  healthcheck:
    | { kind: 'http'; port: number; path: string }
    | { kind: 'command'; command: string }
    | null;
}

/** A variable docker-compose.yml interpolates, as declared in coolify.json. */
export interface CoolifyVariable {
  name: string;
  secret: boolean;
  default?: string;
  /** Filled by Coolify with a random value per resource (SERVICE_USER_*, SERVICE_PASSWORD_*, SERVICE_REALBASE64_*). */
  generated?: boolean;
  description: string;
}

/** coolify.json: what the Coolify resource for this compose file is made of. */
export interface CoolifyManifest {
  name: string;
  description?: string;
  type: 'docker-compose';
  compose: string;
  services: Record<string, CoolifyServiceEntry>;
  env: CoolifyVariable[];
  appEnv: { name: string; secret: boolean }[];
}

/**
 * Body of Coolify's `POST /api/v1/services` for a custom compose file. Coolify rejects any other
 * field (422 "This field is not allowed"), and `type` too: it selects a one-click template.
 */
export interface CoolifyServiceRequest {
  name: string;
  description?: string;
  server_uuid?: string;
  project_uuid?: string;
  environment_name: string;
  instant_deploy: boolean;
  /** The compose file, base64-encoded; Coolify also requires the decoded text to be ASCII. */
  docker_compose_raw: string;
}

/** The compose file cannot be sent to Coolify as it is. */
export class CoolifyComposeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CoolifyComposeError';
  }
}

// Short-syntax bind mount of a file next to the compose file: `- ./infra/redis.conf:/etc/x:ro`.
const FILE_MOUNT = /^(\s*)- \.\/([\w./-]+):(\/[\w./-]+)(:ro|:rw)?\s*$/;
const BUILD_LINE = /^\s*build:/;
const BUILD_HERE = /^\s*build:\s*\.\s*$/;
const IMAGE_DEFAULT = /\$\{LOWBURN_IMAGE:-[^}]*\}/g;
const IMAGE_REF = /^[a-z0-9][\w.\-/:@]*$/i;
const NOT_ASCII = /[^\t\n\r\x20-\x7e]/;

/** Relative sources of the short-syntax bind mounts in a compose file (e.g. `infra/redis.conf`). */
export function composeFileMounts(compose: string): string[] {
  return compose.split('\n').flatMap((line) => FILE_MOUNT.exec(line)?.[2] ?? []);
}

/**
 * Rewrites docker-compose.yml for a Coolify Service, which has no source folder:
 * - `build: .` is dropped: Coolify starts a Service with `docker compose pull` then
 *   `docker compose up -d --build` in a folder holding only the compose file
 *   (coollabsio/coolify `app/Actions/Service/StartService.php`), so a build would fail; the
 *   services run `image` (`${LOWBURN_IMAGE:-<image>}`) instead;
 * - each bind mount of a file listed in `files` becomes Coolify's long syntax with `content:`,
 *   which Coolify writes to disk and strips before compose sees it (`bootstrap/helpers/parsers.php`);
 *   a bind source it does not know is created as an empty directory.
 * Everything else is passed through unchanged.
 *
 * @param files - file contents by relative path, e.g. `{ 'infra/redis.conf': '...' }`
 */
export function toCoolifyServiceCompose(
  compose: string,
  options: { image?: string; files?: Record<string, string> } = {},
): string {
  if (options.image !== undefined && !IMAGE_REF.test(options.image)) {
    throw new CoolifyComposeError(`"${options.image}" is not an image reference`);
  }
  const out: string[] = [];
  for (const [index, line] of compose.split('\n').entries()) {
    if (BUILD_LINE.test(line)) {
      if (!BUILD_HERE.test(line)) {
        throw new CoolifyComposeError(
          `line ${index + 1}: only "build: ." can be dropped for Coolify, found "${line.trim()}"`,
        );
      }
      continue;
    }
    const mount = FILE_MOUNT.exec(line);
    const content = mount?.[2] === undefined ? undefined : options.files?.[mount[2]];
    if (!mount || content === undefined) {
      out.push(
        options.image ? line.replace(IMAGE_DEFAULT, `\${LOWBURN_IMAGE:-${options.image}}`) : line,
      );
      continue;
    }
    const [, indent = '', source, target, mode] = mount;
    out.push(
      `${indent}- type: bind`,
      `${indent}  source: ./${source}`,
      `${indent}  target: ${target}`,
      `${indent}  read_only: ${mode === ':ro'}`,
      `${indent}  content: |`,
      ...content
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => (l === '' ? '' : `${indent}    ${l}`)),
    );
  }
  return out.join('\n');
}

/**
 * Builds the body of Coolify's `POST /api/v1/services` that creates the whole stack as one
 * Coolify Service from docker-compose.yml (see {@link toCoolifyServiceCompose} for the rewrite).
 *
 * Verified against coollabsio/coolify `app/Http/Controllers/Api/ServicesController.php`
 * (`create_service`): without `type`, a non-empty `docker_compose_raw` creates a custom compose
 * Service; it must be base64 and decode to ASCII; `project_uuid` and `server_uuid` are required,
 * as is `environment_name` or `environment_uuid`; `instant_deploy` starts it at once. The response
 * is `201 { uuid, domains }`.
 *
 * @example
 * const body = coolifyDeployRequest({ compose, manifest, serverUuid, projectUuid, image: 'ghcr.io/acme/lowburn:1.4.0' });
 */
export function coolifyDeployRequest(options: {
  compose: string;
  manifest: CoolifyManifest;
  serverUuid?: string;
  projectUuid?: string;
  /** @defaultValue `'production'` */
  environmentName?: string;
  /** Pushed image the lowburn services run; without it they run `lowburn:local`. */
  image?: string;
  /** Contents of the files the compose file bind-mounts, by relative path. */
  files?: Record<string, string>;
  /** @defaultValue `false` */
  instantDeploy?: boolean;
}): CoolifyServiceRequest {
  const compose = toCoolifyServiceCompose(options.compose, options);
  const bad = NOT_ASCII.exec(compose);
  if (bad) {
    const line = compose.slice(0, bad.index).split('\n').length;
    throw new CoolifyComposeError(
      `line ${line}: Coolify accepts only ASCII compose files, found "${bad[0]}"`,
    );
  }
  return {
    name: options.manifest.name,
    ...(options.manifest.description ? { description: options.manifest.description } : {}),
    ...(options.serverUuid ? { server_uuid: options.serverUuid } : {}),
    ...(options.projectUuid ? { project_uuid: options.projectUuid } : {}),
    environment_name: options.environmentName ?? 'production',
    instant_deploy: options.instantDeploy ?? false,
    docker_compose_raw: Buffer.from(compose, 'utf8').toString('base64'),
  };
}

interface CoolifyCommandOptions {
  server?: string;
  project?: string;
  environment: string;
  image?: string;
  deploy?: boolean;
  dir: string;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

function readManifest(file: string): CoolifyManifest {
  let manifest: Partial<CoolifyManifest>;
  try {
    manifest = JSON.parse(readText(file, 'the manifest'));
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof manifest.name !== 'string' || manifest.type !== 'docker-compose') {
    throw new InvalidArgumentError(`${file} needs "name" and "type": "docker-compose"`);
  }
  return manifest as CoolifyManifest;
}

/**
 * Adds `lowburn coolify`: prints the `POST /api/v1/services` body for docker-compose.yml and
 * coolify.json (from `--dir`, default the current folder) on stdout, and how to send it on stderr.
 */
export function registerCoolifyCommand(program: Command): Command {
  return program
    .command('coolify')
    .description('print the Coolify API request that creates this stack as a Coolify service')
    .option('--server <uuid>', 'Coolify server UUID (required by Coolify)')
    .option('--project <uuid>', 'Coolify project UUID (required by Coolify)')
    .option('--environment <name>', 'Coolify environment name', 'production')
    .option('--image <ref>', 'pushed lowburn image to run (a Coolify service cannot build)')
    .option('--deploy', 'start the service as soon as it is created')
    .option('--dir <path>', 'folder with docker-compose.yml and coolify.json', '.')
    .action((opts: CoolifyCommandOptions) => {
      const dir = path.resolve(opts.dir);
      const manifest = readManifest(path.join(dir, 'coolify.json'));
      const composeFile = path.join(dir, manifest.compose);
      const compose = readText(composeFile, 'the compose file');
      const files: Record<string, string> = {};
      for (const source of composeFileMounts(compose)) {
        const file = path.join(path.dirname(composeFile), source);
        if (statSync(file, { throwIfNoEntry: false })?.isFile())
          files[source] = readText(file, 'mounted file');
      }
      let body: CoolifyServiceRequest;
      try {
        body = coolifyDeployRequest({
          compose,
          manifest,
          serverUuid: opts.server,
          projectUuid: opts.project,
          environmentName: opts.environment,
          image: opts.image,
          files,
          instantDeploy: opts.deploy ?? false,
        });
      } catch (error) {
        if (error instanceof CoolifyComposeError) throw new InvalidArgumentError(error.message);
        throw error;
      }
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      const missing = [!opts.server && '--server', !opts.project && '--project'].filter(Boolean);
      if (missing.length > 0)
        process.stderr.write(`warning: Coolify requires ${missing.join(' and ')}\n`);
      if (!opts.image) {
        process.stderr.write('warning: no --image; the server must already have lowburn:local\n');
      }
      process.stderr.write(
        `send it: lowburn coolify ... | curl -fsS -X POST "$COOLIFY_URL/api/v1/services" -H "Authorization: Bearer $COOLIFY_TOKEN" -H 'Content-Type: application/json' --data-binary @-\n`,
      );
    });
}
