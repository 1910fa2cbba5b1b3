import type { DeliveryStatus } from '../db/database.ts';

/**
 * Every status a delivery can have, for parsing filters and for the API's schemas. A file of its
 * own, importing types only, so the client's types can come from it without the ledger's code.
 */
export const deliveryStatuses = [
  'pending',
  'succeeded',
  'failed',
  'dead',
  'disabled',
] as const satisfies readonly DeliveryStatus[];
