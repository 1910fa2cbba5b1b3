import { z } from 'zod';

// Imports zod alone: the API's schemas, and through them the fetch-only client's build, use it.

/** A user id as lowburn stores it (`generations.user_id`, `telemetry.user_id`). */
export const erasureUserId = z
  .string()
  .min(1, 'must be a user id: at least one character')
  .max(256, 'must be a user id of at most 256 characters');

/** Devices whose telemetry is erased with the user (rows naming no user, or another one). */
export const erasureDeviceIds = z
  .array(z.string().min(1, 'must be a device id').max(256, 'must be at most 256 characters'))
  .max(1_000, 'at most 1,000 devices per erasure');

/** The body of `DELETE /v1/users/:userId` (optional). */
export const erasureRequestBodySchema = z
  .object({
    devices: erasureDeviceIds
      .optional()
      .describe('Devices whose telemetry goes too, whoever it names (a shared tablet, a kiosk).'),
  })
  .strict();

export type ErasureStatus = 'pending' | 'hot-done' | 'done';
