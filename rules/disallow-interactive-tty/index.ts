import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sDisallowInteractiveTTY: no container may set `stdin: true` or `tty: true`
 * (interactive shells belong to `kubectl debug`, not to workloads), unless its image is exempt.
 */
export default definePolicy<Params>({
  name: 'disallow-interactive-tty',
  description: 'Containers may not set stdin or tty to true (K8sDisallowInteractiveTTY).',
  aliases: ['K8sDisallowInteractiveTTY'],
  parameters: { type: 'object', properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } } },
  match: PODS,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers(['containers', 'initContainers'])) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      for (const f of ['stdin', 'tty'] as const) {
        if (c.container[f] !== true) continue;
        const path = field(c, f);
        violations.push({
          message: `${who(c)} may not request an interactive terminal (${path}: true)`,
          path,
        });
      }
    }
    return violations;
  },
});
