import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig, isRecord } from '../_lib/gatekeeper.js';

/**
 * Port of Gatekeeper's K8sBlockWildcardIngress: every Ingress rule must name a concrete host. A missing
 * or empty host, or one with a `*`, would catch traffic for hosts that belong to others.
 */
export default definePolicy({
  name: 'block-wildcard-ingress',
  description:
    'Ingress rules must name a concrete host, not an empty or wildcard one (K8sBlockWildcardIngress).',
  aliases: ['K8sBlockWildcardIngress'],
  parameters: { type: 'object' },
  match: {
    kinds: [{ apiGroups: ['extensions', 'networking.k8s.io'], kinds: ['Ingress'] }],
    operations: ['CREATE', 'UPDATE'],
  },
  validate(ctx) {
    const rules = dig(ctx.object, 'spec', 'rules');
    if (!Array.isArray(rules)) return [];
    const violations: Violation[] = [];
    rules.forEach((r: unknown, i) => {
      const host = isRecord(r) ? r.host : undefined;
      const path = `spec.rules[${i}].host`;
      if (typeof host !== 'string' || host.trim() === '') {
        violations.push({
          message: `Ingress rule ${i} has no host, so it matches every host (${path})`,
          path,
        });
      } else if (host.includes('*')) {
        violations.push({
          message: `Ingress rule ${i} has the wildcard host ${JSON.stringify(host)} (${path})`,
          path,
        });
      }
    });
    return violations;
  },
});
