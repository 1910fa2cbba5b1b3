export { ApiKeyResolver, type ApiKeyResolverOptions } from './api-key-cache.ts';
export {
  API_KEY_PATTERN,
  generateWebhookSecret,
  hashApiKey,
  parseApiKey,
} from './api-key-format.ts';
export {
  type ApiScope,
  apiScopes,
  isApiScope,
  parseApiKeyName,
  parseApiScopes,
  parseBudgetOverrides,
  parseCacheScope,
} from './api-key-input.ts';
export {
  type ApiKeyRecord,
  type ApiKeySummary,
  type CreatedApiKey,
  createApiKey,
  getWebhookSecret,
  listApiKeys,
  revokeApiKey,
  setApiKeyBudgets,
  touchApiKey,
  verifyApiKey,
} from './api-keys.ts';
export { InvalidApiKeyInputError } from './invalid-api-key-input-error.ts';
export { type RotationReport, rotateWebhookSecrets } from './rotate-webhook-secrets.ts';
