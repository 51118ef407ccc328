import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS, who } from '../_lib/gatekeeper.js';
import { parseQuantity } from '../_lib/quantity.js';
import { resourceValue } from '../_lib/resources.js';

interface Params {
  ratio?: string;
  cpuRatio?: string;
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sContainerRatios: for containers and initContainers, the memory limit may be at
 * most `ratio` times the memory request, and (when `cpuRatio` is given) the CPU limit at most `cpuRatio`
 * times the CPU request. Both values must be set for a checked resource.
 */
export default definePolicy<Params>({
  name: 'container-ratios',
  description:
    'Limit-to-request ratios of memory (and CPU) may not exceed the configured ratio (K8sContainerRatios).',
  aliases: ['K8sContainerRatios'],
  parameters: {
    type: 'object',
    properties: {
      ratio: { type: 'string' },
      cpuRatio: { type: 'string' },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS,
  validate(ctx) {
    const checks: { resource: string; raw: string; ratio: number }[] = [];
    for (const [resource, raw] of [
      ['memory', ctx.params.ratio],
      ['cpu', ctx.params.cpuRatio],
    ] as const) {
      if (raw === undefined) continue;
      const ratio = parseQuantity(raw);
      if (ratio === undefined || ratio <= 0)
        return `ratio ${JSON.stringify(raw)} for ${resource} is not a positive number; fix the binding`;
      checks.push({ resource, raw, ratio });
    }
    const violations: Violation[] = [];
    for (const c of ctx.containers(['containers', 'initContainers'])) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      for (const { resource, raw, ratio } of checks) {
        const limit = resourceValue(c, 'limits', resource);
        const request = resourceValue(c, 'requests', resource);
        const base = field(c, 'resources');
        if (limit === undefined || request === undefined) {
          const which = [limit === undefined ? 'limit' : '', request === undefined ? 'request' : '']
            .filter(Boolean)
            .join(' and ');
          const path = `${base}.${limit === undefined ? 'limits' : 'requests'}.${resource}`;
          violations.push({
            message: `${who(c)} has no ${resource} ${which} (${path}); the ratio cannot be checked`,
            path,
          });
          continue;
        }
        const l = parseQuantity(limit);
        const r = parseQuantity(request);
        if (l === undefined || r === undefined) {
          const path = `${base}.${l === undefined ? 'limits' : 'requests'}.${resource}`;
          violations.push({ message: `${who(c)} ${resource} value is not a valid quantity (${path})`, path });
        } else if (r === 0 ? l > 0 : l / r > ratio) {
          const path = `${base}.limits.${resource}`;
          violations.push({
            message: `${who(c)} ${resource} limit ${String(limit)} is more than ${raw} times its request ${String(request)} (${path})`,
            path,
          });
        }
      }
    }
    return violations;
  },
});
