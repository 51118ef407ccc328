import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  allowedCapabilities: string[];
  requiredDropCapabilities: string[];
  exemptImages: string[];
}

/** `cap_net_admin` and `NET_ADMIN` are the same capability. */
const norm = (c: string) => c.trim().toUpperCase().replace(/^CAP_/, '');

/**
 * Port of Gatekeeper's K8sPSPCapabilities: capabilities a container adds must be in
 * `allowedCapabilities` (`*` allows any), and every capability in `requiredDropCapabilities` must be
 * dropped (dropping `ALL` drops them all). Names compare case-insensitively, with or without `CAP_`.
 * All container types are checked, except exempt images. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'capabilities',
  description: 'Added capabilities must be allowed and required ones dropped (K8sPSPCapabilities).',
  aliases: ['K8sPSPCapabilities'],
  parameters: {
    type: 'object',
    properties: {
      allowedCapabilities: { type: 'array', items: { type: 'string' }, default: [] },
      requiredDropCapabilities: { type: 'array', items: { type: 'string' }, default: [] },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const allowed = new Set(ctx.params.allowedCapabilities.map(norm));
    const mustDrop = ctx.params.requiredDropCapabilities.map(norm);
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      const caps = c.container.securityContext?.capabilities;
      const added = (caps?.add ?? []).filter((a) => !allowed.has('*') && !allowed.has(norm(a)));
      if (added.length > 0) {
        const path = field(c, 'securityContext.capabilities.add');
        violations.push({
          message: `${who(c)} adds disallowed capabilities ${added.join(', ')} (${path}); allowed: ${ctx.params.allowedCapabilities.join(', ') || '(none)'}`,
          path,
        });
      }
      const dropped = new Set((caps?.drop ?? []).map(norm));
      if (dropped.has('ALL')) continue;
      const missing = mustDrop.filter((d) => !dropped.has(d));
      if (missing.length > 0) {
        const path = field(c, 'securityContext.capabilities.drop');
        violations.push({
          message: `${who(c)} must drop capabilities ${missing.join(', ')} (${path})`,
          path,
        });
      }
    }
    return violations;
  },
});
