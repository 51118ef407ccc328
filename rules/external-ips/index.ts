import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig } from '../_lib/gatekeeper.js';

interface Params {
  allowedIPs: string[];
}

/**
 * Port of Gatekeeper's K8sExternalIPs: every address in a Service's `spec.externalIPs` must be listed in
 * `allowedIPs` (externalIPs can intercept cluster traffic to those addresses: CVE-2020-8554).
 */
export default definePolicy<Params>({
  name: 'external-ips',
  description: 'Service externalIPs must come from the allow-list (K8sExternalIPs).',
  aliases: ['K8sExternalIPs'],
  parameters: {
    type: 'object',
    properties: { allowedIPs: { type: 'array', items: { type: 'string' }, default: [] } },
  },
  match: { kinds: [{ apiGroups: [''], kinds: ['Service'] }], operations: ['CREATE', 'UPDATE'] },
  validate(ctx) {
    const ips = dig(ctx.object, 'spec', 'externalIPs');
    if (!Array.isArray(ips)) return [];
    const allowed = new Set(ctx.params.allowedIPs.map((ip) => ip.trim().toLowerCase()));
    const violations: Violation[] = [];
    ips.forEach((ip: unknown, i) => {
      if (typeof ip === 'string' && allowed.has(ip.trim().toLowerCase())) return;
      const path = `spec.externalIPs[${i}]`;
      violations.push({
        message: `external IP ${JSON.stringify(ip)} is not allowed (${path}); allowed: ${ctx.params.allowedIPs.join(', ') || '(none)'}`,
        path,
      });
    });
    return violations;
  },
});
