import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig } from '../_lib/gatekeeper.js';

interface Params {
  tlsOptional: boolean;
}

const ALLOW_HTTP = 'kubernetes.io/ingress.allow-http';

/**
 * Port of Gatekeeper's K8sHttpsOnly: an Ingress must turn plain HTTP off with the annotation
 * `kubernetes.io/ingress.allow-http: "false"` and, unless `tlsOptional`, have a `spec.tls` section.
 */
export default definePolicy<Params>({
  name: 'https-only',
  description: 'Ingresses must disable plain HTTP and (unless tlsOptional) configure TLS (K8sHttpsOnly).',
  aliases: ['K8sHttpsOnly'],
  parameters: { type: 'object', properties: { tlsOptional: { type: 'boolean', default: false } } },
  match: {
    kinds: [{ apiGroups: ['extensions', 'networking.k8s.io'], kinds: ['Ingress'] }],
    operations: ['CREATE', 'UPDATE'],
  },
  validate(ctx) {
    if (ctx.object === null) return [];
    const violations: Violation[] = [];
    const name = JSON.stringify(ctx.object.metadata?.name ?? '');
    if (dig(ctx.object, 'metadata', 'annotations', ALLOW_HTTP) !== 'false') {
      const path = `metadata.annotations.${ALLOW_HTTP}`;
      violations.push({
        message: `Ingress ${name} must set the annotation ${ALLOW_HTTP}: "false" (${path})`,
        path,
      });
    }
    const tls = dig(ctx.object, 'spec', 'tls');
    if (!ctx.params.tlsOptional && (!Array.isArray(tls) || tls.length === 0)) {
      violations.push({ message: `Ingress ${name} must configure TLS (spec.tls)`, path: 'spec.tls' });
    }
    return violations;
  },
});
