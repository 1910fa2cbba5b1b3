import { canonicalJson } from '../json/canonical-json.ts';
import { normaliseText } from './request-keys.ts';

type Scalar = string | number | boolean | null;

/** How one template parameter affects the answer. */
export interface TemplateParam {
  /** `insensitive`: "Red Shoes " and "red shoes" give the same answer. @defaultValue 'sensitive' */
  case?: 'sensitive' | 'insensitive';
  /** `false` for parameters that do not change the answer (a request id, a locale label…). */
  affectsOutput?: boolean;
  /** Required unless `false`. */
  required?: boolean;
}

/** A registered prompt template: the cache keys it by id, version and the parameters that matter. */
export interface PromptTemplate {
  id: string;
  /** Bump when the wording changes: old answers stop matching. */
  version: string;
  taskType: string;
  params: Record<string, TemplateParam>;
  render(params: Record<string, Scalar>): string;
}

export const defineTemplate = (template: PromptTemplate) => template;

/** A registry by id; two templates with one id is a mistake caught at startup. */
export function definePromptTemplates(list: PromptTemplate[]): ReadonlyMap<string, PromptTemplate> {
  const byId = new Map<string, PromptTemplate>();
  for (const template of list) {
    if (byId.has(template.id)) throw new Error(`two prompt templates have the id "${template.id}"`);
    byId.set(template.id, template);
  }
  return byId;
}

/** A request named a template that is not registered, or gave it the wrong parameters. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Checks the parameters against the template's declaration and renders the prompt. */
export function renderTemplate(template: PromptTemplate, params: Record<string, Scalar>): string {
  for (const name of Object.keys(params)) {
    if (!(name in template.params)) {
      throw new TemplateError(
        `template "${template.id}" has no parameter "${name}"; it takes ${Object.keys(template.params).join(', ')}`,
      );
    }
  }
  for (const [name, spec] of Object.entries(template.params)) {
    if (spec.required !== false && (params[name] === undefined || params[name] === null)) {
      throw new TemplateError(`template "${template.id}" needs parameter "${name}"`);
    }
  }
  return template.render(params);
}

/**
 * The template-cache key: the template's id and version plus only the parameters that affect
 * the answer, normalised as the template declares (whitespace always, case when insensitive).
 */
export function templateKey(template: PromptTemplate, params: Record<string, Scalar>): string {
  const relevant: Record<string, Scalar> = {};
  for (const [name, spec] of Object.entries(template.params)) {
    if (spec.affectsOutput === false) continue;
    const value = params[name] ?? null;
    relevant[name] =
      typeof value === 'string'
        ? spec.case === 'insensitive'
          ? normaliseText(value).toLowerCase()
          : normaliseText(value)
        : value;
  }
  return `${template.id}@${template.version}:${canonicalJson(relevant)}`;
}
