import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, isExempt, PODS } from '../_lib/gatekeeper.js';
import { checkMaxima, maxima } from '../_lib/resources.js';

interface Params {
  cpu?: string;
  memory?: string;
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sContainerRequests: containers and initContainers must set CPU and memory
 * requests, each no larger than the configured maximum (`-1` or absence skips a resource).
 */
export default definePolicy<Params>({
  name: 'container-requests',
  description:
    'Containers must set CPU and memory requests no larger than the maxima (K8sContainerRequests).',
  aliases: ['K8sContainerRequests'],
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
      if (!isExempt(c.image, ctx.params.exemptImages)) checkMaxima(c, 'requests', checks, violations);
    }
    return violations;
  },
});
