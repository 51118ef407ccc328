import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, isExempt, PODS_ON_CREATE } from '../_lib/gatekeeper.js';
import { checkMaxima, maxima } from '../_lib/resources.js';

interface Params {
  'ephemeral-storage'?: string;
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sContainerEphemeralStorageLimit: containers and initContainers must set an
 * `ephemeral-storage` limit no larger than the maximum (`-1` skips). CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'ephemeral-storage-limit',
  description:
    'Containers must set an ephemeral-storage limit within the maximum (K8sContainerEphemeralStorageLimit).',
  aliases: ['K8sContainerEphemeralStorageLimit'],
  parameters: {
    type: 'object',
    properties: {
      'ephemeral-storage': { type: 'string' },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const checks = maxima(ctx.params as unknown as Record<string, unknown>, ['ephemeral-storage']);
    if (typeof checks === 'string') return checks;
    const violations: Violation[] = [];
    for (const c of ctx.containers(['containers', 'initContainers'])) {
      if (!isExempt(c.image, ctx.params.exemptImages)) checkMaxima(c, 'limits', checks, violations);
    }
    return violations;
  },
});
