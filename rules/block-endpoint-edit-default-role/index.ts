import { definePolicy, type Violation } from 'tollgate/sdk';
import { isRecord } from '../_lib/gatekeeper.js';

const ROLE = 'system:aggregate-to-edit';
const WRITE = new Set(['create', 'patch', 'update', '*']);

/**
 * Port of Gatekeeper's K8sBlockEndpointEditDefaultRole: the built-in `system:aggregate-to-edit`
 * ClusterRole must not grant create, patch or update on Endpoints (CVE-2021-25740: editors could point
 * Endpoints at addresses they should not reach).
 */
export default definePolicy({
  name: 'block-endpoint-edit-default-role',
  description:
    'system:aggregate-to-edit must not grant write access to Endpoints (K8sBlockEndpointEditDefaultRole).',
  aliases: ['K8sBlockEndpointEditDefaultRole'],
  parameters: { type: 'object' },
  match: {
    kinds: [{ apiGroups: ['rbac.authorization.k8s.io'], kinds: ['ClusterRole'] }],
    operations: ['CREATE', 'UPDATE'],
  },
  validate(ctx) {
    const o = ctx.object;
    if (o === null || o.metadata?.name !== ROLE || !Array.isArray(o.rules)) return [];
    const violations: Violation[] = [];
    (o.rules as unknown[]).forEach((r, i) => {
      if (!isRecord(r) || !Array.isArray(r.resources) || !Array.isArray(r.verbs)) return;
      const endpoints = r.resources.some((x) => x === 'endpoints' || x === '*');
      const verbs = r.verbs.filter((v): v is string => typeof v === 'string' && WRITE.has(v));
      if (!endpoints || verbs.length === 0) return;
      const path = `rules[${i}]`;
      violations.push({
        message: `ClusterRole ${ROLE} must not grant ${verbs.join(', ')} on endpoints (${path})`,
        path,
      });
    });
    return violations;
  },
});
