export { AddressPolicy, type AddressPolicyOptions, type Refusal } from './address-policy.ts';
export { type ResolvedAddress, type Resolver, systemResolver } from './guarded-agent.ts';
export { parseRetryAfter } from './retry-after.ts';
export {
  createWebhookHttpClient,
  type DeliverOptions,
  type DeliveryResponse,
  type WebhookHttpClient,
  type WebhookHttpClientOptions,
} from './safe-fetch.ts';
