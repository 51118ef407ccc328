import { definePolicy, type Violation } from 'tollgate/sdk';
import { isRecord } from '../_lib/gatekeeper.js';

interface Params {
  labels: { key: string; allowedRegex?: string }[];
  message?: string;
}

/**
 * Port of Gatekeeper's K8sRequiredLabels: the object must carry every listed label, and where
 * `allowedRegex` is set the value must match it (unanchored, as in Gatekeeper: anchor it with ^…$).
 * `message`, when given, leads each violation. Applies to the object itself (no pod-template autogen).
 */
export default definePolicy<Params>({
  name: 'required-labels',
  description:
    'Objects must carry the listed labels, with values matching a regex where one is given (K8sRequiredLabels).',
  aliases: ['K8sRequiredLabels'],
  parameters: {
    type: 'object',
    properties: {
      message: { type: 'string' },
      labels: {
        type: 'array',
        default: [],
        items: {
          type: 'object',
          required: ['key'],
          properties: { key: { type: 'string', minLength: 1 }, allowedRegex: { type: 'string' } },
        },
      },
    },
  },
  match: { kinds: [{ apiGroups: ['*'], kinds: ['*'] }], operations: ['CREATE', 'UPDATE'] },
  autogen: false,
  validate(ctx) {
    const object = ctx.object;
    if (object === null) return [];
    const labels = isRecord(object.metadata?.labels)
      ? (object.metadata.labels as Record<string, unknown>)
      : {};
    const lead = ctx.params.message ? `${ctx.params.message}: ` : '';
    const violations: Violation[] = [];
    const missing = ctx.params.labels.filter((l) => !Object.hasOwn(labels, l.key)).map((l) => l.key);
    if (missing.length > 0) {
      violations.push({
        message: `${lead}missing label${missing.length > 1 ? 's' : ''} ${missing.map((k) => JSON.stringify(k)).join(', ')} (metadata.labels)`,
        path: 'metadata.labels',
      });
    }
    for (const l of ctx.params.labels) {
      if (l.allowedRegex === undefined || l.allowedRegex === '' || !Object.hasOwn(labels, l.key)) continue;
      const value = String(labels[l.key]);
      let re: RegExp;
      try {
        re = new RegExp(l.allowedRegex);
      } catch {
        return `parameters.labels allowedRegex ${JSON.stringify(l.allowedRegex)} is not a valid regular expression; fix the binding`;
      }
      if (!re.test(value)) {
        const path = `metadata.labels.${l.key}`;
        violations.push({
          message: `${lead}label ${JSON.stringify(l.key)}=${JSON.stringify(value)} does not match ${l.allowedRegex} (${path})`,
          path,
        });
      }
    }
    return violations;
  },
});
