import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, isRecord, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

type Options = { level?: string; role?: string; type?: string; user?: string };

interface Params {
  allowedSELinuxOptions: Options[];
  exemptImages: string[];
}

const FIELDS = ['level', 'role', 'type', 'user'] as const;

/** Options fit an allowed entry when every field they set equals the entry's value for it. */
function fits(options: Record<string, unknown>, allowed: Options): boolean {
  return FIELDS.every((f) => options[f] === undefined || options[f] === allowed[f]);
}

/**
 * Port of Gatekeeper's K8sPSPSELinuxV2: the pod's and each container's `securityContext.seLinuxOptions`
 * must fit one of `allowedSELinuxOptions` (every field set must equal that entry's value). CREATE only.
 */
export default definePolicy<Params>({
  name: 'selinux',
  description: 'SELinux options of pods and containers must match an allowed combination (K8sPSPSELinuxV2).',
  aliases: ['K8sPSPSELinuxV2'],
  parameters: {
    type: 'object',
    properties: {
      allowedSELinuxOptions: {
        type: 'array',
        default: [],
        items: {
          type: 'object',
          properties: {
            level: { type: 'string' },
            role: { type: 'string' },
            type: { type: 'string' },
            user: { type: 'string' },
          },
        },
      },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const allowed = ctx.params.allowedSELinuxOptions;
    const ok = (o: unknown) => !isRecord(o) || allowed.some((a) => fits(o, a));
    const show = (o: unknown) => JSON.stringify(o);
    const violations: Violation[] = [];
    for (const pod of ctx.podSpecs()) {
      const o = pod.spec.securityContext?.seLinuxOptions;
      if (ok(o)) continue;
      const path = `${pod.path}.securityContext.seLinuxOptions`;
      violations.push({ message: `pod SELinux options ${show(o)} are not allowed (${path})`, path });
    }
    for (const c of ctx.containers()) {
      const o = c.container.securityContext?.seLinuxOptions;
      if (ok(o) || isExempt(c.image, ctx.params.exemptImages)) continue;
      const path = field(c, 'securityContext.seLinuxOptions');
      violations.push({ message: `${who(c)} SELinux options ${show(o)} are not allowed (${path})`, path });
    }
    return violations;
  },
});
