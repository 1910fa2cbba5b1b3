/**
 * `lowburn/client`: the fetch-only client of the lowburn API. Types come from the API's schemas
 * as `import type` only, so no zod (or any other runtime dependency) reaches the bundle.
 */
export type { GenerateRequest } from '../../shared/generation/schema.ts';
export type { Ping } from '../../shared/telemetry/ping.ts';
export type {
  Accepted,
  ErasureAccepted,
  ErrorCode,
  JobState,
  JobStatus,
  TelemetryAccepted,
  WebhookReplay,
} from '../schemas.ts';
export {
  type CreateGenerationOptions,
  createClient,
  type LowburnClient,
  type LowburnClientOptions,
  type RequestOptions,
} from './create-client.ts';
export {
  LowburnApiError,
  type LowburnErrorDetail,
  LowburnNetworkError,
  LowburnTimeoutError,
  WebhookVerificationError,
  type WebhookVerificationFailure,
} from './errors/index.ts';
export { newPingId, type TelemetryPingInput } from './send-telemetry.ts';
export {
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookRequestHeaders,
} from './verify-webhook.ts';
export type { WaitOptions } from './wait-for-job.ts';
