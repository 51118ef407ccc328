import { definePolicy, type Violation } from 'tollgate/sdk';
import { PODS_ON_CREATE } from '../_lib/gatekeeper.js';

interface Params {
  volumes: string[];
}

/**
 * Port of Gatekeeper's K8sPSPVolumeTypes: every pod volume must be of a type listed in `volumes`
 * (`configMap`, `emptyDir`, `persistentVolumeClaim`, …; `*` allows all). CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'volume-types',
  description: 'Pods may only use the allowed volume types (K8sPSPVolumeTypes).',
  aliases: ['K8sPSPVolumeTypes'],
  parameters: {
    type: 'object',
    properties: { volumes: { type: 'array', items: { type: 'string' }, default: [] } },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const allowed = new Set(ctx.params.volumes);
    if (allowed.has('*')) return [];
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      (pod.spec.volumes ?? []).forEach((v, i) => {
        for (const type of Object.keys(v)) {
          if (type === 'name' || allowed.has(type)) continue;
          const path = `${pod.path}.volumes[${i}].${type}`;
          violations.push({
            message: `volume ${JSON.stringify(v.name)} has the type ${type}, which is not allowed (${path}); allowed: ${ctx.params.volumes.join(', ') || '(none)'}`,
            path,
          });
        }
      });
    }
    return violations;
  },
});
