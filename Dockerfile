# syntax=docker/dockerfile:1
# One image for every lowburn process (worker, board, api, migrate, cli); the process is
# chosen by the command: `docker run lowburn worker`, `... board`, `... migrate up`.
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
# No secret is baked in: configuration is runtime environment only (see coolify.json).

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
# Two malloc arenas instead of glibc's 8 per core: DuckDB's threads and libuv's pool otherwise
# keep ~50 MB more RSS after a cold export, growing with its size (bench:export measures both).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
# Code and dependencies stay owned by root: the process (user `node`) can read but not modify
# them. Only /app/data (local scratch, e.g. a DuckDB cache folder) is writable.
COPY --from=deps /app/node_modules ./node_modules
# .dockerignore is an allowlist, so this copies package.json, bin/, api/, jobs/, shared/ and
# workers/ and never tests, .env or local data.
COPY . .
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# No HEALTHCHECK here: the same image runs one-shot commands (migrate); docker-compose.yml
# defines a health check per long-running service instead.
ENTRYPOINT ["node", "workers/cli.ts"]
CMD ["worker"]
