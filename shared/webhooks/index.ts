export * from './http/index.ts';
export { type SignWebhookInput, signWebhook, type WebhookHeaders } from './signing.ts';
