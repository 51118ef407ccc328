import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, isRecord, PODS, who } from '../_lib/gatekeeper.js';
import { parseQuantity } from '../_lib/quantity.js';

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
    const { exemptImages } = ctx.params;
    const violations: Violation[] = [];
    const checks: { resource: 'cpu' | 'memory'; max: number }[] = [];
    for (const resource of ['cpu', 'memory'] as const) {
      const raw = ctx.params[resource];
      if (raw === undefined || raw.trim() === '-1') continue;
      const max = parseQuantity(raw);
      if (max === undefined) {
        return `parameters.${resource} ${JSON.stringify(raw)} is not a Kubernetes quantity; fix the binding`;
      }
      checks.push({ resource, max });
    }
    for (const c of ctx.containers(['containers', 'initContainers'])) {
      if (isExempt(c.image, exemptImages)) continue;
      const limits = (c.container.resources as Record<string, unknown> | undefined)?.limits;
      for (const { resource, max } of checks) {
        const path = field(c, `resources.limits.${resource}`);
        const value = isRecord(limits) ? limits[resource] : undefined;
        if (value === undefined || value === null) {
          violations.push({
            message: `${who(c)} has no ${resource} limit (${path}); set one of at most ${ctx.params[resource]}`,
            path,
          });
          continue;
        }
        const n = parseQuantity(value);
        if (n === undefined) {
          violations.push({
            message: `${who(c)} ${resource} limit ${JSON.stringify(value)} is not a valid quantity (${path})`,
            path,
          });
        } else if (n > max) {
          violations.push({
            message: `${who(c)} ${resource} limit ${String(value)} is higher than the maximum allowed of ${ctx.params[resource]} (${path})`,
            path,
          });
        }
      }
    }
    return violations;
  },
});
