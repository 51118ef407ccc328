import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  hostNetwork: boolean;
  min?: number;
  max?: number;
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sPSPHostNetworkingPorts: `hostNetwork: true` is refused unless the parameter
 * `hostNetwork` allows it, and every host port must lie within [min, max] when they are given (exempt
 * images skip the port check, never the hostNetwork check). On the host network a container port is a
 * host port, so it is checked too even when `hostPort` is not written. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'host-network-ports',
  description:
    'Host network use and host ports must match the allowed setting and range (K8sPSPHostNetworkingPorts).',
  aliases: ['K8sPSPHostNetworkingPorts'],
  parameters: {
    type: 'object',
    properties: {
      hostNetwork: { type: 'boolean', default: false },
      min: { type: 'integer' },
      max: { type: 'integer' },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const { hostNetwork, min, max, exemptImages } = ctx.params;
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      if (pod.spec.hostNetwork === true && !hostNetwork) {
        const path = `${pod.path}.hostNetwork`;
        violations.push({ message: `the host network is not allowed (${path}: true)`, path });
      }
    }
    if (min === undefined && max === undefined) return violations;
    const range = `${min ?? 0}-${max ?? 65535}`;
    for (const c of ctx.containers()) {
      if (isExempt(c.image, exemptImages)) continue;
      const onHost = c.pod.spec.hostNetwork === true;
      (c.container.ports ?? []).forEach((p, i) => {
        const hostPort = p.hostPort ?? (onHost ? p.containerPort : undefined);
        if (typeof hostPort !== 'number') return;
        if ((min === undefined || hostPort >= min) && (max === undefined || hostPort <= max)) return;
        const path = field(c, `ports[${i}].${p.hostPort !== undefined ? 'hostPort' : 'containerPort'}`);
        violations.push({
          message: `${who(c)} host port ${hostPort} is outside the allowed range ${range} (${path})`,
          path,
        });
      });
    }
    return violations;
  },
});
