import { Counter, Gauge, type Registry } from 'prom-client';
import { oncePerRegistry } from '../metrics/registry.ts';
import type { ModelServers } from './model-servers.ts';

/**
 * Each model server's figures, read from the process's pool at scrape time: requests in
 * flight, whether it takes traffic, and counters of requests, failures (by kind) and cooldowns.
 * `server` is the URL's host:port.
 */
export const modelServerMetrics = oncePerRegistry((registry: Registry, servers: ModelServers) => {
  new Gauge({
    name: 'lowburn_model_server_in_flight',
    help: 'Requests this process has in flight on each model server (OLLAMA_URL).',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers.stats()) this.set({ server: s.label }, s.inFlight);
    },
  });
  new Gauge({
    name: 'lowburn_model_server_up',
    help: '1 while a model server takes traffic, 0 while it cools down after a failure.',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers.stats()) this.set({ server: s.label }, s.up ? 1 : 0);
    },
  });
  new Counter({
    name: 'lowburn_model_server_requests_total',
    help: 'Requests this process sent to each model server.',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers.stats()) this.inc({ server: s.label }, s.requests);
    },
  });
  new Counter({
    name: 'lowburn_model_server_failures_total',
    help: 'Requests a model server failed, by kind (unreachable, server-error, timeout).',
    labelNames: ['server', 'kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers.stats()) {
        for (const [kind, count] of Object.entries(s.failures)) {
          this.inc({ server: s.label, kind }, count);
        }
      }
    },
  });
  new Counter({
    name: 'lowburn_model_server_cooldowns_total',
    help: 'Times a model server was taken out of use after failing (OLLAMA_COOLDOWN).',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers.stats()) this.inc({ server: s.label }, s.cooldowns);
    },
  });
  return servers;
});
