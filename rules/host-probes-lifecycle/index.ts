import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, isRecord, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

const HANDLERS: readonly (readonly string[])[] = [
  ['livenessProbe'],
  ['readinessProbe'],
  ['startupProbe'],
  ['lifecycle', 'postStart'],
  ['lifecycle', 'preStop'],
];

/**
 * Port of Gatekeeper's K8sPSPHostProbesLifecycle: probes and lifecycle hooks (httpGet, tcpSocket) may
 * not set `host`: the kubelet would connect to that address from the node, reaching what the pod cannot.
 * All container types are checked, except exempt images. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'host-probes-lifecycle',
  description: 'Probes and lifecycle hooks may not set the host field (K8sPSPHostProbesLifecycle).',
  aliases: ['K8sPSPHostProbesLifecycle'],
  parameters: { type: 'object', properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } } },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      for (const keys of HANDLERS) {
        let handler: unknown = c.container;
        for (const k of keys) handler = isRecord(handler) ? handler[k] : undefined;
        if (!isRecord(handler)) continue;
        for (const kind of ['httpGet', 'tcpSocket']) {
          const h = handler[kind];
          if (!isRecord(h) || h.host === undefined || h.host === null || h.host === '') continue;
          const path = field(c, `${keys.join('.')}.${kind}.host`);
          violations.push({
            message: `${who(c)} ${keys.join('.')} may not set host ${JSON.stringify(h.host)} (${path})`,
            path,
          });
        }
      }
    }
    return violations;
  },
});
