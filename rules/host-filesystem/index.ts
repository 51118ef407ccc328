import { definePolicy, type Violation } from 'tollgate/sdk';
import { field, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Params {
  allowedHostPaths: { pathPrefix?: string; readOnly?: boolean }[];
}

/** `/foo` covers `/foo` and `/foo/bar`, not `/foobar` (path segments, as PodSecurityPolicy did). */
function under(path: string, prefix: string): boolean {
  const p = prefix.replace(/\/+$/, '');
  if (p === '') return path.startsWith('/');
  const clean = path.replace(/\/+$/, '');
  return clean === p || clean.startsWith(`${p}/`);
}

/**
 * Port of Gatekeeper's K8sPSPHostFilesystem: every hostPath volume must lie under one of
 * `allowedHostPaths` (no list: no hostPath at all). When the matching entries all say `readOnly`, every
 * container mount of that volume must be read-only. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'host-filesystem',
  description:
    'hostPath volumes must be under allowed prefixes, read-only where required (K8sPSPHostFilesystem).',
  aliases: ['K8sPSPHostFilesystem'],
  parameters: {
    type: 'object',
    properties: {
      allowedHostPaths: {
        type: 'array',
        default: [],
        items: {
          type: 'object',
          properties: { pathPrefix: { type: 'string' }, readOnly: { type: 'boolean' } },
        },
      },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const { allowedHostPaths } = ctx.params;
    const violations: Violation[] = [];
    const readOnlyVolumes = new Set<string>();
    for (const pod of ctx.podSpecs()) {
      (pod.spec.volumes ?? []).forEach((v, i) => {
        const hostPath = v.hostPath?.path;
        if (hostPath === undefined) return;
        const fits = allowedHostPaths.filter(
          (a) => typeof a.pathPrefix === 'string' && under(hostPath, a.pathPrefix),
        );
        const path = `${pod.path}.volumes[${i}].hostPath.path`;
        if (fits.length === 0) {
          const allowed = allowedHostPaths.map((a) => a.pathPrefix).join(', ') || '(none)';
          violations.push({
            message: `volume ${JSON.stringify(v.name)} uses the host path ${hostPath}, which is not allowed (${path}); allowed: ${allowed}`,
            path,
          });
        } else if (fits.every((a) => a.readOnly === true)) {
          readOnlyVolumes.add(v.name);
        }
      });
    }
    for (const c of ctx.containers()) {
      (c.container.volumeMounts ?? []).forEach((m, i) => {
        if (!readOnlyVolumes.has(m.name) || m.readOnly === true) return;
        const path = field(c, `volumeMounts[${i}].readOnly`);
        violations.push({
          message: `${who(c)} must mount the host path volume ${JSON.stringify(m.name)} read-only (${path})`,
          path,
        });
      });
    }
    return violations;
  },
});
