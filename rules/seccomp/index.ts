import { definePolicy, type Violation } from 'tollgate/sdk';
import {
  field,
  isExempt,
  PODS,
  profileAsAnnotation,
  SECCOMP_PARAMETERS,
  type SeccompParams,
} from '../_lib/gatekeeper.js';

const POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
const CONTAINER_ANNOTATION = 'container.seccomp.security.alpha.kubernetes.io/';

/**
 * Port of Gatekeeper's K8sPSPSeccomp: each container's seccomp profile, in the annotation spelling,
 * must be in `allowedProfiles` (`runtime/default`, `docker/default`, `unconfined`, `localhost/<file>`,
 * `*`; entries ending in `*` are prefixes). A `localhost/<file>` profile is also allowed when
 * `allowedProfiles` names some localhost profile and `<file>` is in `allowedLocalhostFiles`. The profile
 * comes from the container's securityContext, its annotation, the pod's securityContext or the pod
 * annotation, in that order; none at all is the profile `not configured`. Messages keep Gatekeeper's
 * wording, which existing constraint tests look for.
 */
export default definePolicy<SeccompParams>({
  name: 'seccomp',
  description: 'Seccomp profiles (annotations or securityContext) must be allowed (K8sPSPSeccomp).',
  aliases: ['K8sPSPSeccomp'],
  parameters: SECCOMP_PARAMETERS,
  match: PODS,
  validate(ctx) {
    const { allowedProfiles, allowedLocalhostFiles, exemptImages } = ctx.params;
    const violations: Violation[] = [];
    const allowed = (profile: string): boolean => {
      if (allowedProfiles.includes('*') || isExempt(profile, allowedProfiles)) return true;
      if (!profile.startsWith('localhost/') || !allowedProfiles.some((p) => p.startsWith('localhost/')))
        return false;
      return isExempt(profile.slice('localhost/'.length), allowedLocalhostFiles);
    };
    for (const c of ctx.containers()) {
      if (isExempt(c.image, exemptImages)) continue;
      // The pod's own annotations: a Pod's metadata, or a workload's pod template metadata.
      const annotations = c.pod.metadata?.annotations ?? {};
      const sources: [string | undefined, string, string][] = [
        [
          profileAsAnnotation(c.container.securityContext?.seccompProfile),
          'container securityContext.',
          field(c, 'securityContext.seccompProfile'),
        ],
        [
          annotations[`${CONTAINER_ANNOTATION}${c.name}`],
          `annotation ${CONTAINER_ANNOTATION}${c.name}`,
          `${c.pod.metadataPath}.annotations`,
        ],
        [
          profileAsAnnotation(c.pod.spec.securityContext?.seccompProfile),
          'pod securityContext.',
          `${c.pod.path}.securityContext.seccompProfile`,
        ],
        [annotations[POD_ANNOTATION], `annotation ${POD_ANNOTATION}`, `${c.pod.metadataPath}.annotations`],
      ];
      const found = sources.find(([p]) => typeof p === 'string');
      const [profile, at, path] = found ?? [
        'not configured',
        'no explicit profile found',
        field(c, 'securityContext.seccompProfile'),
      ];
      if (allowed(profile!)) continue;
      violations.push({
        message: `Seccomp profile '${profile}' is not allowed for container '${c.name}'. Found at: ${at} (${path}); allowed: ${allowedProfiles.join(', ') || '(none)'}`,
        path,
      });
    }
    return violations;
  },
});
