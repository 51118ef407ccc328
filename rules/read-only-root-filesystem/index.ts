import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sPSPReadOnlyRootFilesystem: every container, initContainer and
 * ephemeralContainer must set `securityContext.readOnlyRootFilesystem: true`, unless its image is
 * exempt. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'read-only-root-filesystem',
  description: 'Containers must use a read-only root filesystem (K8sPSPReadOnlyRootFilesystem).',
  aliases: ['K8sPSPReadOnlyRootFilesystem'],
  parameters: { type: 'object', properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } } },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (
        c.container.securityContext?.readOnlyRootFilesystem === true ||
        isExempt(c.image, ctx.params.exemptImages)
      )
        continue;
      const path = field(c, 'securityContext.readOnlyRootFilesystem');
      // The first words are Gatekeeper's own, which existing constraint tests look for.
      violations.push({
        message: `only read-only root filesystem container is allowed: ${c.name} (${who(c)}: set ${path} to true)`,
        path,
      });
    }
    return violations;
  },
});
