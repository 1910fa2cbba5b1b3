export { type AttemptDeps, type AttemptResult, attemptDelivery } from './attempt.ts';
export {
  type EnqueuedWebhook,
  type EnqueueWebhookInput,
  enqueueDelivery,
  enqueueWebhook,
} from './enqueue.ts';
export {
  buildWebhookEvent,
  type OperatorEventType,
  operatorEventTypes,
  serializeEvent,
  type WebhookEvent,
  type WebhookEventInput,
  type WebhookEventType,
  webhookEventTypes,
  webhookIdFor,
} from './events.ts';
export * from './http/index.ts';
export {
  type DeliverySummary,
  deliveryStatuses,
  type ListDeliveriesFilter,
  listDeliveries,
} from './list-deliveries.ts';
export { processWebhookClient, webhookClientOptions } from './process-client.ts';
export {
  type DeliverWebhookPayload,
  deliverWebhookQueue,
  deliveryJobId,
  type Enqueue,
} from './queue.ts';
export {
  type ReplayedDelivery,
  type ReplayFilter,
  replayDeliveries,
  replayMatching,
} from './replay.ts';
export { type AttemptVerdict, nextAttemptDelay } from './retry-policy.ts';
export { type SignWebhookInput, signWebhook, type WebhookHeaders } from './signing.ts';
