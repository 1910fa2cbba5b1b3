export { LowburnApiError, type LowburnErrorDetail } from './lowburn-api-error.ts';
export { LowburnNetworkError } from './lowburn-network-error.ts';
export { LowburnTimeoutError } from './lowburn-timeout-error.ts';
export {
  WebhookVerificationError,
  type WebhookVerificationFailure,
} from './webhook-verification-error.ts';
