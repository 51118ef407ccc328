import { type ContainerRef, definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS, profileAsAnnotation, who } from '../_lib/gatekeeper.js';

interface Params {
  allowedProfiles: string[];
  exemptImages: string[];
}

const ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

/**
 * Port of Gatekeeper's K8sPSPAppArmor: each container's AppArmor profile must be in `allowedProfiles`
 * (exact, or a prefix ending in `*`, as in `localhost/*`). The profile is the container's
 * `securityContext.appArmorProfile`, else the `container.apparmor.security.beta.kubernetes.io/<name>`
 * annotation, else the pod's `securityContext.appArmorProfile`; a container with none is refused.
 */
export default definePolicy<Params>({
  name: 'apparmor',
  description: 'Containers must use an allowed AppArmor profile (K8sPSPAppArmor).',
  aliases: ['K8sPSPAppArmor'],
  parameters: {
    type: 'object',
    properties: {
      allowedProfiles: { type: 'array', items: { type: 'string' }, default: [] },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS,
  validate(ctx) {
    const allowed = ctx.params.allowedProfiles;
    const violations: Violation[] = [];
    const profileOf = (c: ContainerRef): { profile: string | undefined; path: string } => {
      const own = profileAsAnnotation(c.container.securityContext?.appArmorProfile);
      if (own !== undefined) return { profile: own, path: field(c, 'securityContext.appArmorProfile') };
      // The pod's own annotations: a Pod's metadata, or a workload's pod template metadata.
      const ann = c.pod.metadata?.annotations?.[`${ANNOTATION}${c.name}`];
      if (typeof ann === 'string') {
        return { profile: ann, path: `${c.pod.metadataPath}.annotations.${ANNOTATION}${c.name}` };
      }
      const pod = profileAsAnnotation(c.pod.spec.securityContext?.appArmorProfile);
      return { profile: pod, path: `${c.pod.path}.securityContext.appArmorProfile` };
    };
    for (const c of ctx.containers()) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      const { profile, path } = profileOf(c);
      if (profile !== undefined && isExempt(profile, allowed)) continue;
      const what =
        profile === undefined
          ? 'sets no AppArmor profile'
          : `uses the AppArmor profile ${JSON.stringify(profile)}`;
      violations.push({
        message: `${who(c)} ${what}, which is not allowed (${path}); allowed: ${allowed.join(', ') || '(none)'}`,
        path,
      });
    }
    return violations;
  },
});
