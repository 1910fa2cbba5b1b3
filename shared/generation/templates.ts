import { definePromptTemplates } from '../inference/templates.ts';

/**
 * The registered prompt templates. A request names one with `template` + `params`; the cache
 * keys it by id, version and the parameters that change the answer, as each declares. Bump a
 * template's `version` when its wording changes.
 */
export const templates = definePromptTemplates([
  {
    id: 'product-title',
    version: '1',
    taskType: 'formatting',
    params: {
      product: { case: 'insensitive' },
      maxWords: { required: false },
      requestId: { affectsOutput: false, required: false },
    },
    render: (p) =>
      `Write a short, catchy product title (at most ${p.maxWords ?? 8} words) for: ${p.product}. Answer with the title only.`,
  },
  {
    id: 'ticket-triage',
    version: '1',
    taskType: 'classification',
    params: { subject: {}, body: {}, ticketId: { affectsOutput: false, required: false } },
    render: (p) =>
      `Classify this support ticket as one of billing, bug, feature-request, account, other. Answer with the label only.\nSubject: ${p.subject}\n${p.body}`,
  },
]);
