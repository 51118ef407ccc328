import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig, isRecord } from '../_lib/gatekeeper.js';

interface Params {
  includeStorageClassesInMessage: boolean;
  allowedStorageClasses?: string[];
}

/**
 * Port of Gatekeeper's K8sStorageClass: a PersistentVolumeClaim, and each volumeClaimTemplate of a
 * StatefulSet, must name a `storageClassName` that exists in the cluster inventory (load StorageClasses
 * with `--data`) and, when `allowedStorageClasses` is given, is one of them. A claim without a class
 * would silently take the cluster default, so it is refused too.
 */
export default definePolicy<Params>({
  name: 'storage-class',
  description: 'Volume claims must name an existing (and allowed) StorageClass (K8sStorageClass).',
  aliases: ['K8sStorageClass'],
  parameters: {
    type: 'object',
    properties: {
      includeStorageClassesInMessage: { type: 'boolean', default: true },
      allowedStorageClasses: { type: 'array', items: { type: 'string' } },
    },
  },
  match: {
    kinds: [
      { apiGroups: [''], kinds: ['PersistentVolumeClaim'] },
      { apiGroups: ['apps'], kinds: ['StatefulSet'] },
    ],
    operations: ['CREATE', 'UPDATE'],
  },
  autogen: false,
  validate(ctx) {
    const o = ctx.object;
    if (o === null) return [];
    const existing = ctx.inventory
      .list('StorageClass')
      .map((s) => s.metadata?.name)
      .filter((n): n is string => typeof n === 'string');
    const { allowedStorageClasses: allowed, includeStorageClassesInMessage: list } = ctx.params;
    const usable = allowed === undefined ? existing : existing.filter((n) => allowed.includes(n));
    const hint = list ? `; usable storage classes: ${usable.join(', ') || '(none)'}` : '';
    const claims: { spec: unknown; path: string; what: string }[] = [];
    if (o.kind === 'PersistentVolumeClaim') {
      claims.push({
        spec: o.spec,
        path: 'spec.storageClassName',
        what: `PersistentVolumeClaim ${JSON.stringify(o.metadata?.name ?? '')}`,
      });
    } else {
      const templates = dig(o, 'spec', 'volumeClaimTemplates');
      (Array.isArray(templates) ? templates : []).forEach((t: unknown, i) => {
        const name = isRecord(t) ? dig(t, 'metadata', 'name') : undefined;
        claims.push({
          spec: isRecord(t) ? t.spec : undefined,
          path: `spec.volumeClaimTemplates[${i}].spec.storageClassName`,
          what: `volumeClaimTemplate ${JSON.stringify(name ?? i)}`,
        });
      });
    }
    const violations: Violation[] = [];
    for (const { spec, path, what } of claims) {
      const cls = dig(spec, 'storageClassName');
      if (typeof cls !== 'string' || cls === '') {
        violations.push({ message: `${what} does not name a storage class (${path})${hint}`, path });
      } else if (!existing.includes(cls)) {
        violations.push({
          message: `${what} names the storage class ${JSON.stringify(cls)}, which does not exist (${path})${hint}`,
          path,
        });
      } else if (allowed !== undefined && !allowed.includes(cls)) {
        violations.push({
          message: `${what} names the storage class ${JSON.stringify(cls)}, which is not allowed (${path})${hint}`,
          path,
        });
      }
    }
    return violations;
  },
});
