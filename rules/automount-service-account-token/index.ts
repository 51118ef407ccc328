import { definePolicy, type Violation } from 'tollgate/sdk';
import { field, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Port of Gatekeeper's K8sPSPAutomountServiceAccountTokenPod: a pod may not set
 * `automountServiceAccountToken: true`, nor mount a volume over the service account token directory.
 * CREATE only, like Gatekeeper.
 */
export default definePolicy({
  name: 'automount-service-account-token',
  description:
    'Pods may not turn on automounting of the service account token (K8sPSPAutomountServiceAccountTokenPod).',
  aliases: ['K8sPSPAutomountServiceAccountTokenPod'],
  parameters: { type: 'object' },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      if (pod.spec.automountServiceAccountToken === true) {
        const path = `${pod.path}.automountServiceAccountToken`;
        violations.push({
          message: `automounting the service account token is not allowed (${path}: true)`,
          path,
        });
      }
    }
    for (const c of ctx.containers()) {
      (c.container.volumeMounts ?? []).forEach((m, i) => {
        if (m.mountPath.replace(/\/+$/, '') !== TOKEN_DIR) return;
        const path = field(c, `volumeMounts[${i}].mountPath`);
        violations.push({
          message: `${who(c)} mounts a volume at the service account token directory (${path})`,
          path,
        });
      });
    }
    return violations;
  },
});
