import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  procMount: 'Default' | 'Unmasked';
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sPSPProcMount: with `procMount: Default` (the default) no container may ask for
 * an `Unmasked` /proc; `Unmasked` allows both. An unset procMount is `Default`. CREATE only.
 */
export default definePolicy<Params>({
  name: 'proc-mount',
  description: 'Containers must use the allowed procMount type (K8sPSPProcMount).',
  aliases: ['K8sPSPProcMount'],
  parameters: {
    type: 'object',
    properties: {
      procMount: { type: 'string', enum: ['Default', 'Unmasked'], default: 'Default' },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    if (ctx.params.procMount === 'Unmasked') return [];
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      const pm = c.container.securityContext?.procMount ?? 'Default';
      if (pm === 'Default' || isExempt(c.image, ctx.params.exemptImages)) continue;
      const path = field(c, 'securityContext.procMount');
      violations.push({
        message: `${who(c)} procMount ${JSON.stringify(pm)} is not allowed; allowed: Default (${path})`,
        path,
      });
    }
    return violations;
  },
});
