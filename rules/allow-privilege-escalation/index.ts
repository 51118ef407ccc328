import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sPSPAllowPrivilegeEscalationContainer: every container, initContainer and
 * ephemeralContainer must set `securityContext.allowPrivilegeEscalation: false` (left unset, Linux lets
 * a process gain privileges), unless its image is exempt. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'allow-privilege-escalation',
  description:
    'Containers must set allowPrivilegeEscalation: false (K8sPSPAllowPrivilegeEscalationContainer).',
  aliases: ['K8sPSPAllowPrivilegeEscalationContainer'],
  parameters: { type: 'object', properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } } },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      const v = c.container.securityContext?.allowPrivilegeEscalation;
      if (v === false || isExempt(c.image, ctx.params.exemptImages)) continue;
      const path = field(c, 'securityContext.allowPrivilegeEscalation');
      const state = v === true ? 'is true' : 'is not set';
      violations.push({
        message: `privilege escalation ${who(c)} is not allowed: ${path} ${state}; set it to false`,
        path,
      });
    }
    return violations;
  },
});
