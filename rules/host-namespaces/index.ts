import { definePolicy, type Violation } from 'tollgate/sdk';
import { PODS_ON_CREATE } from '../_lib/gatekeeper.js';

/**
 * Port of Gatekeeper's K8sPSPHostNamespace: a pod may not share the host's PID or IPC namespace
 * (`hostPID`, `hostIPC`). CREATE only, like Gatekeeper.
 */
export default definePolicy({
  name: 'host-namespaces',
  description: 'Pods may not share the host PID or IPC namespace (K8sPSPHostNamespace).',
  aliases: ['K8sPSPHostNamespace'],
  parameters: { type: 'object' },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      for (const f of ['hostPID', 'hostIPC'] as const) {
        if (pod.spec[f] !== true) continue;
        const path = `${pod.path}.${f}`;
        violations.push({
          message: `sharing the host ${f === 'hostPID' ? 'PID' : 'IPC'} namespace is not allowed (${path}: true)`,
          path,
        });
      }
    }
    return violations;
  },
});
