import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sPSPPrivilegedContainer: no container, initContainer or ephemeralContainer may
 * set `securityContext.privileged: true`, unless its image is exempt. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'privileged-containers',
  description: 'Containers may not run privileged (K8sPSPPrivilegedContainer).',
  aliases: ['K8sPSPPrivilegedContainer'],
  parameters: { type: 'object', properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } } },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (c.container.securityContext?.privileged !== true || isExempt(c.image, ctx.params.exemptImages))
        continue;
      const path = field(c, 'securityContext.privileged');
      violations.push({ message: `privileged ${who(c)} is not allowed (${path}: true)`, path });
    }
    return violations;
  },
});
