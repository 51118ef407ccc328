import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig, isRecord } from '../_lib/gatekeeper.js';

function hosts(o: unknown): string[] {
  const rules = dig(o, 'spec', 'rules');
  return (Array.isArray(rules) ? rules : []).map((r: unknown) =>
    isRecord(r) && typeof r.host === 'string' ? r.host : '',
  );
}

/**
 * Port of Gatekeeper's K8sUniqueIngressHost: no Ingress rule host may already be used by another Ingress
 * anywhere in the cluster (load Ingresses with `--data`), so one team cannot capture another's traffic.
 */
export default definePolicy({
  name: 'unique-ingress-host',
  description: 'Ingress hosts must be unique across the cluster (K8sUniqueIngressHost).',
  aliases: ['K8sUniqueIngressHost'],
  parameters: { type: 'object' },
  match: {
    kinds: [{ apiGroups: ['extensions', 'networking.k8s.io'], kinds: ['Ingress'] }],
    operations: ['CREATE', 'UPDATE'],
  },
  validate(ctx) {
    const o = ctx.object;
    if (o === null) return [];
    const self = `${o.metadata?.namespace ?? ctx.request.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    const taken = new Map<string, string>();
    for (const other of ctx.inventory.list('Ingress')) {
      const id = `${other.metadata?.namespace ?? ''}/${other.metadata?.name ?? ''}`;
      if (id === self) continue;
      for (const h of hosts(other)) if (h !== '' && !taken.has(h)) taken.set(h, id);
    }
    const violations: Violation[] = [];
    hosts(o).forEach((h, i) => {
      const owner = taken.get(h);
      if (owner === undefined) return;
      const path = `spec.rules[${i}].host`;
      violations.push({
        message: `Ingress host ${JSON.stringify(h)} is already used by Ingress ${owner} (${path})`,
        path,
      });
    });
    return violations;
  },
});
