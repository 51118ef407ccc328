import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, isExempt, PODS } from '../_lib/gatekeeper.js';
import { checkMaxima, maxima } from '../_lib/resources.js';

interface Params {
  cpu?: string;
  memory?: string;
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sContainerLimits: containers and initContainers must set CPU and memory limits,
 * each no larger than the configured maximum. A maximum of `-1` (or leaving it out) skips that resource.
 * Ephemeral containers cannot set resources, so they are not checked.
 */
export default definePolicy<Params>({
  name: 'container-limits',
  description: 'Containers must set CPU and memory limits no larger than the maxima (K8sContainerLimits).',
  aliases: ['K8sContainerLimits'],
  parameters: {
    type: 'object',
    properties: {
      cpu: { type: 'string' },
      memory: { type: 'string' },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS,
  validate(ctx) {
    const checks = maxima(ctx.params as unknown as Record<string, unknown>, ['cpu', 'memory']);
    if (typeof checks === 'string') return checks;
    const violations: Violation[] = [];
    for (const c of ctx.containers(['containers', 'initContainers'])) {
      if (!isExempt(c.image, ctx.params.exemptImages)) checkMaxima(c, 'limits', checks, violations);
    }
    return violations;
  },
});
