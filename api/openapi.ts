import { z } from 'zod';
import { generateRequestSchema } from '../shared/generation/schema.ts';
import { pingSchema } from '../shared/telemetry/ping.ts';
import {
  acceptedSchema,
  cachePurgeRequestSchema,
  cachePurgeResultSchema,
  erasureAcceptedSchema,
  erasureRequestSchema,
  errorBodySchema,
  jobStatusSchema,
  pipelineRunRequestSchema,
  telemetryAcceptedSchema,
  webhookReplaySchema,
} from './schemas.ts';

const schema = (s: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(s, { target: 'draft-2020-12', io, unrepresentable: 'any' });

const json = (s: z.ZodType, io: 'input' | 'output' = 'output') => ({
  content: { 'application/json': { schema: schema(s, io) } },
});

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { description: 'Error', ...json(errorBodySchema) }]),
  );

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with
 * (OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits natively).
 */
export function openApiDocument(options: { version: string; pipelines: string[] }) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'lowburn API',
      version: options.version,
      description: 'Validate, authenticate, enqueue: the thin API in front of the lowburn fleet.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/v1/generations': {
        post: {
          summary: 'Queue an LLM generation',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, ...json(generateRequestSchema, 'input') },
          responses: {
            '202': { description: 'Queued', ...json(acceptedSchema) },
            ...errors(400, 401, 403, 413, 415, 422, 429, 503),
          },
        },
      },
      '/v1/jobs/{id}': {
        get: {
          summary: "A job's status and result",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The job', ...json(jobStatusSchema) },
            ...errors(401, 404, 429, 503),
          },
        },
      },
      '/v1/pipelines/{name}/runs': {
        post: {
          summary: 'Run a scheduled pipeline now (admin scope)',
          parameters: [
            {
              name: 'name',
              in: 'path',
              required: true,
              schema: { type: 'string', enum: options.pipelines },
            },
          ],
          requestBody: { required: false, ...json(pipelineRunRequestSchema, 'input') },
          responses: {
            '202': { description: 'Queued', ...json(acceptedSchema) },
            ...errors(400, 401, 403, 404, 422, 429, 503),
          },
        },
      },
      '/v1/telemetry': {
        post: {
          summary: 'Buffer one ping or a batch of up to 1,000 (telemetry scope)',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  oneOf: [
                    schema(pingSchema, 'input'),
                    {
                      type: 'array',
                      minItems: 1,
                      maxItems: 1000,
                      items: schema(pingSchema, 'input'),
                    },
                  ],
                },
              },
            },
          },
          responses: {
            '202': { description: 'Buffered', ...json(telemetryAcceptedSchema) },
            ...errors(400, 401, 403, 413, 415, 422, 429, 503),
          },
        },
      },
      '/v1/webhooks/{id}/replay': {
        post: {
          summary: 'Send a webhook delivery again, same webhook-id, fresh schedule (admin scope)',
          parameters: [
            {
              name: 'id',
              in: 'path',
              required: true,
              schema: { type: 'string', pattern: '^msg_[0-9a-f]{32}$' },
            },
          ],
          responses: {
            '202': { description: 'Queued again', ...json(webhookReplaySchema) },
            ...errors(401, 403, 404, 429, 503),
          },
        },
      },
      '/v1/cache': {
        delete: {
          summary:
            "Remove cached answers from every layer and every worker's semantic index (admin scope)",
          requestBody: { required: true, ...json(cachePurgeRequestSchema, 'input') },
          responses: {
            '200': {
              description: 'Removed (or counted, on a dry run)',
              ...json(cachePurgeResultSchema),
            },
            ...errors(400, 401, 403, 413, 415, 422, 429, 503),
          },
        },
      },
      '/v1/users/{userId}': {
        delete: {
          summary:
            'Erase a user: hot rows, webhook payloads, idempotency records and caches at once, cold files later (admin scope)',
          parameters: [{ name: 'userId', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: false, ...json(erasureRequestSchema, 'input') },
          responses: {
            '202': {
              description: 'Recorded and queued (asking again: the same erasure)',
              ...json(erasureAcceptedSchema),
            },
            ...errors(400, 401, 403, 413, 415, 422, 429, 503),
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'The process is up',
          security: [],
          responses: { '200': { description: 'Up' } },
        },
      },
      '/readyz': {
        get: {
          summary: 'Redis is reachable',
          security: [],
          responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } },
        },
      },
    },
  };
}
