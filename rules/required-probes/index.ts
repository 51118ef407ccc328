import { definePolicy, type Violation } from 'tollgate/sdk';
import { field, isRecord, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  probes: string[];
  probeTypes: string[];
}

/**
 * Port of Gatekeeper's K8sRequiredProbes: each container must define every probe in `probes`
 * (`livenessProbe`, `readinessProbe`, `startupProbe`), each using one of the `probeTypes` handlers
 * (`tcpSocket`, `httpGet`, `exec`, `grpc`). Init and ephemeral containers cannot have these probes.
 * Like Gatekeeper, it checks CREATE only.
 */
export default definePolicy<Params>({
  name: 'required-probes',
  description: 'Containers must define the listed probes with an allowed handler type (K8sRequiredProbes).',
  aliases: ['K8sRequiredProbes'],
  parameters: {
    type: 'object',
    properties: {
      probes: { type: 'array', items: { type: 'string' }, default: [] },
      probeTypes: { type: 'array', items: { type: 'string' }, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const { probes, probeTypes } = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers(['containers'])) {
      for (const probe of probes) {
        const path = field(c, probe);
        const p = (c.container as unknown as Record<string, unknown>)[probe];
        if (!isRecord(p)) {
          violations.push({ message: `${who(c)} has no ${probe} (${path})`, path });
        } else if (probeTypes.length > 0 && !probeTypes.some((t) => isRecord(p[t]))) {
          violations.push({
            message: `${who(c)} ${probe} uses none of the allowed probe types ${probeTypes.join(', ')} (${path})`,
            path,
          });
        }
      }
    }
    return violations;
  },
});
