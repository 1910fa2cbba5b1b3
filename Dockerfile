# syntax=docker/dockerfile:1
# One image for every lowburn process (worker, board, api, migrate, cli); the process is
# chosen by the command: `docker run lowburn worker`, `... board`, `... migrate up`.
# Needs BuildKit (`RUN --mount=type=cache`): the default builder of Docker Engine >= 23 and of
# Compose v2.
# The fleet runs as JavaScript compiled in the build stage, not as TypeScript stripped at start:
# Node's type stripper alone keeps ~20 MB of RSS in every process (bench:queue measures both).
# `node workers/cli.ts` keeps working from a checkout for development.
# No secret is baked in: configuration is runtime environment only (see coolify.json).

# Production dependencies only: what the running image keeps.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

# The compiler and the type definitions it checks against live only in this stage.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production
# Two malloc arenas instead of glibc's 8 per core: DuckDB's threads and libuv's pool otherwise
# keep ~50 MB more RSS after a cold export, growing with its size (bench:export measures both).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
# Code and dependencies stay owned by root: the process (user `node`) can read but not modify
# them. Only /app/data (local scratch, e.g. a DuckDB cache folder) is writable.
COPY --from=deps /app/node_modules ./node_modules
# build/ holds the compiled api/, jobs/, shared/ and workers/ (no tests: tsconfig.build.json
# leaves them out, and .dockerignore keeps them out of the context).
COPY --from=build /app/build ./build
# The dashboard's own script and stylesheet, served beside its compiled module (Chart.js comes
# from node_modules above).
COPY --from=build /app/workers/dashboard/assets ./build/workers/dashboard/assets
COPY package.json ./
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# No HEALTHCHECK here: the same image runs one-shot commands (migrate); docker-compose.yml
# defines a health check per long-running service instead.
# --max-semi-space-size=8 (MB): V8 otherwise grows the young generation to 64 MB while the
# fleet's modules load and keeps it, ~13 MB of RSS in an idle worker; no throughput cost was
# measurable on bench:queue (see README, Benchmarks). docker-compose.yml's worker service
# overrides this with 4 (its idle RSS; the API's p99 wanted 8): keep the two lines alike.
ENTRYPOINT ["node", "--max-semi-space-size=8", "build/workers/cli.js"]
CMD ["worker"]
