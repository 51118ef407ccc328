import { definePolicy } from 'tollgate/sdk';
import { PODS_ON_CREATE } from '../_lib/gatekeeper.js';

interface Params {
  rule?: 'MayRunAs' | 'MustRunAs' | 'RunAsAny';
  ranges: { min?: number; max?: number }[];
}

/**
 * Port of Gatekeeper's K8sPSPFSGroup: with `MustRunAs` the pod must set `securityContext.fsGroup` within
 * one of `ranges`; with `MayRunAs` it may leave it unset, but a set value must be within a range;
 * `RunAsAny` (or no rule) allows anything. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'fsgroup',
  description: 'The pod fsGroup must satisfy the MustRunAs/MayRunAs rule and ranges (K8sPSPFSGroup).',
  aliases: ['K8sPSPFSGroup'],
  parameters: {
    type: 'object',
    properties: {
      rule: { type: 'string', enum: ['MayRunAs', 'MustRunAs', 'RunAsAny'] },
      ranges: {
        type: 'array',
        default: [],
        items: { type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } } },
      },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const { rule, ranges } = ctx.params;
    if (rule !== 'MustRunAs' && rule !== 'MayRunAs') return [];
    const shown = ranges.map((r) => `${r.min ?? 0}-${r.max ?? '∞'}`).join(', ') || '(none)';
    return ctx.podSpecs().flatMap((pod) => {
      const path = `${pod.path}.securityContext.fsGroup`;
      const fsGroup = pod.spec.securityContext?.fsGroup;
      if (fsGroup === undefined || fsGroup === null) {
        return rule === 'MustRunAs'
          ? [{ message: `fsGroup must be set (${path}); allowed ranges: ${shown}`, path }]
          : [];
      }
      const inRange = ranges.some(
        (r) => (r.min === undefined || fsGroup >= r.min) && (r.max === undefined || fsGroup <= r.max),
      );
      return inRange
        ? []
        : [{ message: `fsGroup ${fsGroup} is not in the allowed ranges ${shown} (${path})`, path }];
    });
  },
});
