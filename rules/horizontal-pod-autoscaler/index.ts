import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig } from '../_lib/gatekeeper.js';

interface Params {
  minimumReplicaSpread?: number;
  enforceScaleTargetRef: boolean;
  ranges?: { min_replicas?: number; max_replicas?: number }[];
}

/**
 * Port of Gatekeeper's K8sHorizontalPodAutoscaler: `minReplicas` and `maxReplicas` must both lie inside
 * one of `ranges`, `maxReplicas - minReplicas` must be at least `minimumReplicaSpread`, and with
 * `enforceScaleTargetRef` the `scaleTargetRef` must name a workload present in the inventory (`--data`).
 */
export default definePolicy<Params>({
  name: 'horizontal-pod-autoscaler',
  description: 'HPA replica bounds, spread and scale target must be valid (K8sHorizontalPodAutoscaler).',
  aliases: ['K8sHorizontalPodAutoscaler'],
  parameters: {
    type: 'object',
    properties: {
      enforceScaleTargetRef: { type: 'boolean', default: false },
      minimumReplicaSpread: { type: 'integer' },
      ranges: {
        type: 'array',
        items: {
          type: 'object',
          properties: { min_replicas: { type: 'integer' }, max_replicas: { type: 'integer' } },
        },
      },
    },
  },
  match: {
    kinds: [{ apiGroups: ['autoscaling'], kinds: ['HorizontalPodAutoscaler'] }],
    operations: ['CREATE', 'UPDATE'],
  },
  validate(ctx) {
    const o = ctx.object;
    if (o === null) return [];
    const { ranges, minimumReplicaSpread, enforceScaleTargetRef } = ctx.params;
    const minR =
      typeof dig(o, 'spec', 'minReplicas') === 'number' ? (dig(o, 'spec', 'minReplicas') as number) : 1;
    const maxR = dig(o, 'spec', 'maxReplicas');
    const violations: Violation[] = [];
    if (typeof maxR !== 'number')
      return [
        {
          message: 'HorizontalPodAutoscaler has no maxReplicas (spec.maxReplicas)',
          path: 'spec.maxReplicas',
        },
      ];
    if (ranges !== undefined && ranges.length > 0) {
      const fits = (n: number) =>
        ranges.some(
          (r) =>
            (r.min_replicas === undefined || n >= r.min_replicas) &&
            (r.max_replicas === undefined || n <= r.max_replicas),
        );
      const shown = ranges.map((r) => `${r.min_replicas ?? 0}-${r.max_replicas ?? '∞'}`).join(', ');
      if (!fits(minR))
        violations.push({
          message: `minReplicas ${minR} is outside the allowed ranges ${shown} (spec.minReplicas)`,
          path: 'spec.minReplicas',
        });
      if (!fits(maxR))
        violations.push({
          message: `maxReplicas ${maxR} is outside the allowed ranges ${shown} (spec.maxReplicas)`,
          path: 'spec.maxReplicas',
        });
    }
    if (minimumReplicaSpread !== undefined && maxR - minR < minimumReplicaSpread) {
      violations.push({
        message: `the spread between minReplicas ${minR} and maxReplicas ${maxR} is less than ${minimumReplicaSpread} (spec.maxReplicas)`,
        path: 'spec.maxReplicas',
      });
    }
    if (enforceScaleTargetRef) {
      const kind = dig(o, 'spec', 'scaleTargetRef', 'kind');
      const name = dig(o, 'spec', 'scaleTargetRef', 'name');
      const ns = o.metadata?.namespace ?? ctx.request.namespace;
      const target =
        typeof kind === 'string' && typeof name === 'string' ? ctx.inventory.get(kind, name, ns) : undefined;
      if (target === undefined) {
        violations.push({
          message: `scaleTargetRef ${String(kind)}/${String(name)} does not exist in namespace ${JSON.stringify(ns ?? '')} (spec.scaleTargetRef)`,
          path: 'spec.scaleTargetRef',
        });
      }
    }
    return violations;
  },
});
