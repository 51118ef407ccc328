import { definePolicy, type KubeObject, type Violation } from 'tollgate/sdk';
import { dig, isRecord } from '../_lib/gatekeeper.js';
import { selects } from '../_lib/selectors.js';

/** Whether a PDB's numbers forbid every voluntary eviction for `replicas` pods (undefined: unknown). */
function blocksAll(pdb: unknown, replicas: number | undefined): string | undefined {
  const maxU = dig(pdb, 'spec', 'maxUnavailable');
  if (maxU === 0 || maxU === '0%') return `maxUnavailable is ${JSON.stringify(maxU)}`;
  const minA = dig(pdb, 'spec', 'minAvailable');
  if (minA === '100%') return 'minAvailable is "100%"';
  if (typeof minA === 'number' && replicas !== undefined && minA >= replicas) {
    return `minAvailable ${minA} is not below the ${replicas} replicas`;
  }
  return undefined;
}

const WORKLOADS = ['Deployment', 'StatefulSet', 'ReplicationController'];

/**
 * Port of Gatekeeper's K8sPodDisruptionBudget: a PodDisruptionBudget may not forbid all voluntary
 * disruptions (`maxUnavailable: 0`, `minAvailable: 100%`), which blocks node drains forever. For a
 * Deployment, StatefulSet or ReplicationController, every PDB in the inventory (`--data`) whose selector
 * matches its pod labels must leave room to evict one pod: `minAvailable` below `spec.replicas`.
 */
export default definePolicy({
  name: 'pod-disruption-budget',
  description: 'PodDisruptionBudgets must allow at least one voluntary disruption (K8sPodDisruptionBudget).',
  aliases: ['K8sPodDisruptionBudget'],
  parameters: { type: 'object' },
  match: {
    kinds: [
      { apiGroups: ['policy'], kinds: ['PodDisruptionBudget'] },
      { apiGroups: ['apps'], kinds: ['Deployment', 'StatefulSet'] },
      { apiGroups: [''], kinds: ['ReplicationController'] },
    ],
    operations: ['CREATE', 'UPDATE'],
  },
  autogen: false,
  validate(ctx) {
    const o = ctx.object;
    if (o === null) return [];
    const ns = o.metadata?.namespace ?? ctx.request.namespace;
    const violations: Violation[] = [];
    if (o.kind === 'PodDisruptionBudget') {
      const why = blocksAll(o, undefined);
      if (why !== undefined)
        violations.push({
          message: `PodDisruptionBudget ${JSON.stringify(o.metadata?.name ?? '')} ${why}, so no pod can ever be evicted (spec)`,
          path: 'spec',
        });
      return violations;
    }
    if (!WORKLOADS.includes(String(o.kind))) return [];
    const labels = dig(o, 'spec', 'template', 'metadata', 'labels');
    const podLabels = isRecord(labels) ? labels : {};
    const replicas =
      typeof dig(o, 'spec', 'replicas') === 'number' ? (dig(o, 'spec', 'replicas') as number) : 1;
    const pdbs = ctx.inventory.list('PodDisruptionBudget', ns !== undefined ? { namespace: ns } : {});
    for (const pdb of pdbs as readonly KubeObject[]) {
      if (!selects(dig(pdb, 'spec', 'selector'), podLabels)) continue;
      const why = blocksAll(pdb, replicas);
      if (why === undefined) continue;
      violations.push({
        message: `${String(o.kind)} ${JSON.stringify(o.metadata?.name ?? '')} is covered by PodDisruptionBudget ${JSON.stringify(pdb.metadata?.name ?? '')} whose ${why}, so no pod can be evicted (spec.replicas)`,
        path: 'spec.replicas',
      });
    }
    return violations;
  },
});
