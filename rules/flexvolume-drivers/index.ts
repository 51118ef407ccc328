import { definePolicy, type Violation } from 'tollgate/sdk';
import { isRecord, PODS_ON_CREATE } from '../_lib/gatekeeper.js';

interface Params {
  allowedFlexVolumes?: { driver?: string }[];
}

/**
 * Port of Gatekeeper's K8sPSPFlexVolumes: every flexVolume volume must use a driver listed in
 * `allowedFlexVolumes`. Without the parameter there is no restriction; an empty list allows none.
 * CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'flexvolume-drivers',
  description: 'FlexVolume volumes may only use allowed drivers (K8sPSPFlexVolumes).',
  aliases: ['K8sPSPFlexVolumes'],
  parameters: {
    type: 'object',
    properties: {
      allowedFlexVolumes: {
        type: 'array',
        items: { type: 'object', properties: { driver: { type: 'string' } } },
      },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const list = ctx.params.allowedFlexVolumes;
    if (list === undefined) return [];
    const allowed = new Set(list.map((v) => v.driver).filter((d): d is string => typeof d === 'string'));
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      (pod.spec.volumes ?? []).forEach((v, i) => {
        const flex = (v as unknown as Record<string, unknown>).flexVolume;
        if (!isRecord(flex)) return;
        const driver = String(flex.driver ?? '');
        if (allowed.has(driver)) return;
        const path = `${pod.path}.volumes[${i}].flexVolume.driver`;
        violations.push({
          message: `volume ${JSON.stringify(v.name)} uses the FlexVolume driver ${JSON.stringify(driver)}, which is not allowed (${path}); allowed: ${[...allowed].join(', ') || '(none)'}`,
          path,
        });
      });
    }
    return violations;
  },
});
