import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS, who } from '../_lib/gatekeeper.js';
import { resourceValue } from '../_lib/resources.js';

interface Params {
  limits: ('cpu' | 'memory')[];
  requests: ('cpu' | 'memory')[];
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sRequiredResources: containers and initContainers must set the listed resource
 * limits and requests (any value). Nothing listed, nothing required.
 */
export default definePolicy<Params>({
  name: 'required-resources',
  description: 'Containers must set the listed resource limits and requests (K8sRequiredResources).',
  aliases: ['K8sRequiredResources'],
  parameters: {
    type: 'object',
    properties: {
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
      limits: { type: 'array', items: { type: 'string', enum: ['cpu', 'memory'] }, default: [] },
      requests: { type: 'array', items: { type: 'string', enum: ['cpu', 'memory'] }, default: [] },
    },
  },
  match: PODS,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers(['containers', 'initContainers'])) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      for (const section of ['limits', 'requests'] as const) {
        const missing = ctx.params[section].filter((r) => resourceValue(c, section, r) === undefined);
        if (missing.length === 0) continue;
        const path = field(c, `resources.${section}`);
        violations.push({
          message: `${who(c)} does not set ${section} ${missing.join(', ')} (${path})`,
          path,
        });
      }
    }
    return violations;
  },
});
