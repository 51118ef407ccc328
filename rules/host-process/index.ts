import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sPSPHostProcess: Windows HostProcess containers (full access to the node) are
 * refused, whether set for the pod or per container (`securityContext.windowsOptions.hostProcess`).
 * CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'host-process',
  description: 'Windows HostProcess containers are not allowed (K8sPSPHostProcess).',
  aliases: ['K8sPSPHostProcess'],
  parameters: { type: 'object', properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } } },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      if (pod.spec.securityContext?.windowsOptions?.hostProcess !== true) continue;
      const path = `${pod.path}.securityContext.windowsOptions.hostProcess`;
      violations.push({ message: `HostProcess pods are not allowed (${path}: true)`, path });
    }
    for (const c of ctx.containers()) {
      if (
        c.container.securityContext?.windowsOptions?.hostProcess !== true ||
        isExempt(c.image, ctx.params.exemptImages)
      )
        continue;
      const path = field(c, 'securityContext.windowsOptions.hostProcess');
      violations.push({ message: `${who(c)} may not run as a HostProcess container (${path}: true)`, path });
    }
    return violations;
  },
});
