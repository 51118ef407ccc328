/**
 * Required metadata entries (labels or annotations), shared by required-labels and required-annotations.
 */
import type { KubeObject, Violation } from 'tollgate/sdk';
import { isRecord } from './gatekeeper.js';

export interface Requirement {
  key: string;
  allowedRegex?: string;
}

export const REQUIREMENTS_SCHEMA = {
  type: 'array',
  default: [],
  items: {
    type: 'object',
    required: ['key'],
    properties: { key: { type: 'string', minLength: 1 }, allowedRegex: { type: 'string' } },
  },
} as const;

/**
 * Every `key` must be present in `metadata.<where>`; where `allowedRegex` is set, the value must match
 * it (unanchored, as in Gatekeeper: anchor it with ^…$). `message`, when given, leads each violation.
 */
export function checkRequired(
  object: KubeObject | null,
  where: 'labels' | 'annotations',
  required: readonly Requirement[],
  message: string | undefined,
): Violation[] | string {
  if (object === null) return [];
  const meta = object.metadata as Record<string, unknown> | undefined;
  const entries = isRecord(meta?.[where]) ? (meta[where] as Record<string, unknown>) : {};
  const lead = message ? `${message}: ` : '';
  const noun = where === 'labels' ? 'label' : 'annotation';
  const violations: Violation[] = [];
  const missing = required.filter((r) => !Object.hasOwn(entries, r.key)).map((r) => JSON.stringify(r.key));
  if (missing.length > 0) {
    const path = `metadata.${where}`;
    violations.push({
      message: `${lead}missing ${noun}${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${path})`,
      path,
    });
  }
  for (const r of required) {
    if (r.allowedRegex === undefined || r.allowedRegex === '' || !Object.hasOwn(entries, r.key)) continue;
    let re: RegExp;
    try {
      re = new RegExp(r.allowedRegex);
    } catch {
      return `parameters: allowedRegex ${JSON.stringify(r.allowedRegex)} for ${r.key} is not a valid regular expression; fix the binding`;
    }
    const value = String(entries[r.key]);
    if (!re.test(value)) {
      const path = `metadata.${where}.${r.key}`;
      violations.push({
        message: `${lead}${noun} ${JSON.stringify(r.key)}=${JSON.stringify(value)} does not match ${r.allowedRegex} (${path})`,
        path,
      });
    }
  }
  return violations;
}
