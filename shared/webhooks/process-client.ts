import type { WebhookConfig } from '../config/load-config.ts';
import {
  createWebhookHttpClient,
  type WebhookHttpClient,
  type WebhookHttpClientOptions,
} from './http/safe-fetch.ts';

/** The delivery client's options, from the WEBHOOK_* settings. */
export function webhookClientOptions(config: WebhookConfig): WebhookHttpClientOptions {
  return {
    allowList: config.allowList,
    extraBlockedRanges: config.blockedRanges,
    allowHttp: config.allowHttp,
    timeoutMs: config.timeoutMs,
    maxResponseBytes: config.maxResponseBytes,
  };
}

/**
 * The process's one webhook client, created at its first delivery: a worker that never runs
 * `deliver-webhook` opens no agents. `close()` before any delivery is a no-op; a delivery after
 * `close()` fails, as it would on a closed client.
 */
export function processWebhookClient(config: WebhookConfig): WebhookHttpClient {
  let client: WebhookHttpClient | undefined;
  let closed = false;
  return {
    deliver(url, options) {
      if (closed) return Promise.reject(new Error('the webhook client is closed'));
      client ??= createWebhookHttpClient(webhookClientOptions(config));
      return client.deliver(url, options);
    },
    close() {
      closed = true;
      client?.close();
    },
  };
}
