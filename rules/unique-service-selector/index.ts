import { definePolicy } from 'tollgate/sdk';
import { dig, isRecord } from '../_lib/gatekeeper.js';

/** A selector as a canonical string (sorted keys), so equal maps compare equal. */
function canonical(sel: Record<string, unknown>): string {
  return JSON.stringify(
    Object.keys(sel)
      .sort()
      .map((k) => [k, sel[k]]),
  );
}

/**
 * Port of Gatekeeper's K8sUniqueServiceSelector: a Service's selector may not equal the selector of
 * another Service in the same namespace (load Services with `--data`); two Services would send traffic
 * to the same pods by accident. Services without a selector are skipped.
 */
export default definePolicy({
  name: 'unique-service-selector',
  description: 'Service selectors must be unique within a namespace (K8sUniqueServiceSelector).',
  aliases: ['K8sUniqueServiceSelector'],
  parameters: { type: 'object' },
  match: { kinds: [{ apiGroups: [''], kinds: ['Service'] }], operations: ['CREATE', 'UPDATE'] },
  validate(ctx) {
    const o = ctx.object;
    const sel = dig(o, 'spec', 'selector');
    if (o === null || !isRecord(sel) || Object.keys(sel).length === 0) return [];
    const ns = o.metadata?.namespace ?? ctx.request.namespace;
    const mine = canonical(sel);
    const clash = ctx.inventory.list('Service', ns !== undefined ? { namespace: ns } : {}).find((other) => {
      const s = dig(other, 'spec', 'selector');
      return other.metadata?.name !== o.metadata?.name && isRecord(s) && canonical(s) === mine;
    });
    if (clash === undefined) return [];
    return [
      {
        message: `Service selector ${JSON.stringify(sel)} is already used by Service ${JSON.stringify(clash.metadata?.name ?? '')} in namespace ${JSON.stringify(ns ?? '')} (spec.selector)`,
        path: 'spec.selector',
      },
    ];
  },
});
