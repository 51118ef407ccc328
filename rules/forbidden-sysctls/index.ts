import { definePolicy, type Violation } from 'tollgate/sdk';
import { PODS_ON_CREATE } from '../_lib/gatekeeper.js';

interface Params {
  forbiddenSysctls: string[];
  allowedSysctls?: string[];
}

/** A sysctl pattern: `*`, a prefix ending in `*` (`kernel.*`), or an exact name. */
function matches(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/**
 * Port of Gatekeeper's K8sPSPForbiddenSysctls: no pod sysctl may match `forbiddenSysctls`, and when
 * `allowedSysctls` is given every sysctl must match it (an empty list allows none). Forbidden wins over
 * allowed. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'forbidden-sysctls',
  description: 'Pod sysctls must be allowed and not forbidden (K8sPSPForbiddenSysctls).',
  aliases: ['K8sPSPForbiddenSysctls'],
  parameters: {
    type: 'object',
    properties: {
      forbiddenSysctls: { type: 'array', items: { type: 'string' }, default: [] },
      allowedSysctls: { type: 'array', items: { type: 'string' } },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const { forbiddenSysctls, allowedSysctls } = ctx.params;
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      (pod.spec.securityContext?.sysctls ?? []).forEach((s, i) => {
        const path = `${pod.path}.securityContext.sysctls[${i}].name`;
        const forbidden = forbiddenSysctls.find((p) => matches(p, s.name));
        if (forbidden !== undefined) {
          violations.push({
            message: `sysctl ${JSON.stringify(s.name)} is forbidden by ${JSON.stringify(forbidden)} (${path})`,
            path,
          });
        } else if (allowedSysctls !== undefined && !allowedSysctls.some((p) => matches(p, s.name))) {
          violations.push({
            message: `sysctl ${JSON.stringify(s.name)} is not in the allowed list (${path})`,
            path,
          });
        }
      });
    }
    return violations;
  },
});
