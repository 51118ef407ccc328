import { definePolicy } from 'tollgate/sdk';
import { dig } from '../_lib/gatekeeper.js';

interface Params {
  ranges: { min_replicas?: number; max_replicas?: number }[];
}

/**
 * Port of Gatekeeper's K8sReplicaLimits: an object that sets `spec.replicas` must keep it inside one of
 * the `ranges` (inclusive). Objects without `spec.replicas` are left alone.
 */
export default definePolicy<Params>({
  name: 'replica-limits',
  description: 'spec.replicas must lie inside one of the allowed ranges (K8sReplicaLimits).',
  aliases: ['K8sReplicaLimits'],
  parameters: {
    type: 'object',
    properties: {
      ranges: {
        type: 'array',
        default: [],
        items: {
          type: 'object',
          properties: { min_replicas: { type: 'integer' }, max_replicas: { type: 'integer' } },
        },
      },
    },
  },
  match: {
    kinds: [
      { apiGroups: ['apps'], kinds: ['Deployment', 'StatefulSet', 'ReplicaSet'] },
      { apiGroups: [''], kinds: ['ReplicationController'] },
    ],
    operations: ['CREATE', 'UPDATE'],
  },
  autogen: false,
  validate(ctx) {
    const replicas = dig(ctx.object, 'spec', 'replicas');
    if (typeof replicas !== 'number') return [];
    const { ranges } = ctx.params;
    const inside = ranges.some(
      (r) =>
        (r.min_replicas === undefined || replicas >= r.min_replicas) &&
        (r.max_replicas === undefined || replicas <= r.max_replicas),
    );
    if (inside) return [];
    const allowed =
      ranges.map((r) => `${r.min_replicas ?? 0}-${r.max_replicas ?? '∞'}`).join(', ') || '(none)';
    return [
      {
        message: `${String(ctx.object?.kind)} has ${replicas} replicas, outside the allowed ranges ${allowed} (spec.replicas)`,
        path: 'spec.replicas',
      },
    ];
  },
});
