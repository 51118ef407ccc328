import { definePolicy, type Violation } from 'tollgate/sdk';
import {
  field,
  isExempt,
  isRecord,
  PODS,
  SECCOMP_PARAMETERS,
  type SeccompParams,
} from '../_lib/gatekeeper.js';

/**
 * Port of Gatekeeper's K8sPSPSeccompV2: each container's `securityContext.seccompProfile.type` (else the
 * pod's) must be in `allowedProfiles` (`RuntimeDefault`, `Localhost`, `Unconfined`, and `not configured`
 * for no profile at all). A Localhost profile's file must also be in `allowedLocalhostFiles` (`*` for
 * any). Messages keep Gatekeeper's wording, which existing constraint tests look for.
 */
export default definePolicy<SeccompParams>({
  name: 'seccomp-v2',
  description: 'seccompProfile types set in securityContext must be allowed (K8sPSPSeccompV2).',
  aliases: ['K8sPSPSeccompV2'],
  parameters: SECCOMP_PARAMETERS,
  match: PODS,
  validate(ctx) {
    const { allowedProfiles, allowedLocalhostFiles, exemptImages } = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, exemptImages)) continue;
      const own = c.container.securityContext?.seccompProfile;
      const pod = c.pod.spec.securityContext?.seccompProfile;
      let profile: Record<string, unknown> | undefined;
      let at: string;
      let path: string;
      if (isRecord(own)) {
        [profile, at, path] = [own, 'container securityContext.', field(c, 'securityContext.seccompProfile')];
      } else if (isRecord(pod)) {
        [profile, at, path] = [pod, 'pod securityContext.', `${c.pod.path}.securityContext.seccompProfile`];
      } else {
        [profile, at, path] = [
          undefined,
          'no explicit profile found',
          field(c, 'securityContext.seccompProfile'),
        ];
      }
      const type = profile === undefined ? 'not configured' : String(profile.type ?? '');
      let ok = allowedProfiles.includes(type) || allowedProfiles.includes('*');
      if (ok && type === 'Localhost')
        ok = isExempt(String(profile?.localhostProfile ?? ''), allowedLocalhostFiles);
      if (ok) continue;
      const shown = type === 'Localhost' ? `Localhost/${String(profile?.localhostProfile ?? '')}` : type;
      violations.push({
        message: `Seccomp profile '${shown}' is not allowed for container '${c.name}'. Found at: ${at} (${path}); allowed: ${allowedProfiles.join(', ') || '(none)'}`,
        path,
      });
    }
    return violations;
  },
});
