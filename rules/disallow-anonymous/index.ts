import { definePolicy, type Violation } from 'tollgate/sdk';
import { dig, isRecord } from '../_lib/gatekeeper.js';

interface Params {
  allowedRoles: string[];
  disallowAuthenticated: boolean;
}

/**
 * Port of Gatekeeper's K8sDisallowAnonymous: a RoleBinding or ClusterRoleBinding may not grant its role
 * to `system:anonymous` or `system:unauthenticated` (nor, with `disallowAuthenticated`, to
 * `system:authenticated`, i.e. everyone with any credential), unless the role is in `allowedRoles`.
 * One violation per offending subject.
 */
export default definePolicy<Params>({
  name: 'disallow-anonymous',
  description:
    'Role bindings may not grant roles to anonymous or unauthenticated subjects (K8sDisallowAnonymous).',
  aliases: ['K8sDisallowAnonymous'],
  parameters: {
    type: 'object',
    properties: {
      allowedRoles: { type: 'array', items: { type: 'string' }, default: [] },
      disallowAuthenticated: { type: 'boolean', default: false },
    },
  },
  match: {
    kinds: [{ apiGroups: ['rbac.authorization.k8s.io'], kinds: ['ClusterRoleBinding', 'RoleBinding'] }],
    operations: ['CREATE', 'UPDATE'],
  },
  validate(ctx) {
    const o = ctx.object;
    if (o === null) return [];
    const role = dig(o, 'roleRef', 'name');
    if (typeof role === 'string' && ctx.params.allowedRoles.includes(role)) return [];
    const forbidden = new Set(['system:anonymous', 'system:unauthenticated']);
    if (ctx.params.disallowAuthenticated) forbidden.add('system:authenticated');
    const subjects = Array.isArray(o.subjects) ? (o.subjects as unknown[]) : [];
    const violations: Violation[] = [];
    subjects.forEach((s, i) => {
      if (!isRecord(s) || typeof s.name !== 'string' || !forbidden.has(s.name)) return;
      const path = `subjects[${i}]`;
      violations.push({
        message: `${String(o.kind)} ${JSON.stringify(o.metadata?.name ?? '')} grants ${String(dig(o, 'roleRef', 'kind') ?? 'role')} ${JSON.stringify(role ?? '')} to ${String(s.kind ?? 'subject')} ${s.name} (${path})`,
        path,
      });
    });
    return violations;
  },
});
