import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS_ON_CREATE, who } from '../_lib/gatekeeper.js';

interface Range {
  min?: number;
  max?: number;
}
interface Rule<R extends string> {
  rule?: R;
  ranges?: Range[];
}
interface Params {
  runAsUser?: Rule<'MustRunAs' | 'MustRunAsNonRoot' | 'RunAsAny'>;
  runAsGroup?: Rule<'MustRunAs' | 'MayRunAs' | 'RunAsAny'>;
  supplementalGroups?: Rule<'MustRunAs' | 'MayRunAs' | 'RunAsAny'>;
  fsGroup?: Rule<'MustRunAs' | 'MayRunAs' | 'RunAsAny'>;
  exemptImages: string[];
}

const rangeSchema = {
  type: 'array',
  items: { type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } } },
};
const ruleSchema = (rules: string[]) => ({
  type: 'object',
  properties: { rule: { type: 'string', enum: rules }, ranges: rangeSchema },
});

const inRanges = (id: number, ranges: readonly Range[]) =>
  ranges.some((r) => (r.min === undefined || id >= r.min) && (r.max === undefined || id <= r.max));
const show = (ranges: readonly Range[] | undefined) =>
  (ranges ?? []).map((r) => `${r.min ?? 0}-${r.max ?? '∞'}`).join(', ') || '(none)';

/**
 * Check one ID field under a MustRunAs / MayRunAs rule (RunAsAny and no rule allow anything).
 * `what` names the field in messages; `value` is the effective value (container over pod).
 */
function checkId(
  rule: Rule<string> | undefined,
  value: number | undefined,
  what: string,
  path: string,
  out: Violation[],
): void {
  if (rule?.rule !== 'MustRunAs' && rule?.rule !== 'MayRunAs') return;
  if (value === undefined) {
    if (rule.rule === 'MustRunAs')
      out.push({ message: `${what} must be set within ${show(rule.ranges)} (${path})`, path });
  } else if (!inRanges(value, rule.ranges ?? [])) {
    out.push({
      message: `${what} ${value} is not in the allowed ranges ${show(rule.ranges)} (${path})`,
      path,
    });
  }
}

/**
 * Port of Gatekeeper's K8sPSPAllowedUsers: `runAsUser` (MustRunAs ranges, or MustRunAsNonRoot: never
 * UID 0, and `runAsNonRoot: true` when no UID is set) and `runAsGroup` are checked per container (its
 * securityContext over the pod's); `supplementalGroups` and `fsGroup` per pod. MayRunAs accepts an
 * unset value; RunAsAny accepts anything. CREATE only, like Gatekeeper.
 */
export default definePolicy<Params>({
  name: 'allowed-users',
  description:
    'runAsUser, runAsGroup, supplementalGroups and fsGroup must follow the rules and ranges (K8sPSPAllowedUsers).',
  aliases: ['K8sPSPAllowedUsers'],
  parameters: {
    type: 'object',
    properties: {
      runAsUser: ruleSchema(['MustRunAs', 'MustRunAsNonRoot', 'RunAsAny']),
      runAsGroup: ruleSchema(['MustRunAs', 'MayRunAs', 'RunAsAny']),
      supplementalGroups: ruleSchema(['MustRunAs', 'MayRunAs', 'RunAsAny']),
      fsGroup: ruleSchema(['MustRunAs', 'MayRunAs', 'RunAsAny']),
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS_ON_CREATE,
  validate(ctx) {
    const p = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, p.exemptImages)) continue;
      const own = c.container.securityContext;
      const pod = c.pod.spec.securityContext;
      const fromOwn = own?.runAsUser !== undefined && own.runAsUser !== null;
      const uid = fromOwn ? own!.runAsUser! : (pod?.runAsUser ?? undefined);
      const uidPath = fromOwn
        ? field(c, 'securityContext.runAsUser')
        : `${c.pod.path}.securityContext.runAsUser`;
      if (p.runAsUser?.rule === 'MustRunAsNonRoot') {
        if (uid === 0) {
          violations.push({ message: `${who(c)} runs as root (runAsUser 0) (${uidPath})`, path: uidPath });
        } else if (uid === undefined && (own?.runAsNonRoot ?? pod?.runAsNonRoot) !== true) {
          const path = field(c, 'securityContext.runAsNonRoot');
          violations.push({
            message: `${who(c)} must set runAsNonRoot: true or a non-zero runAsUser (${path})`,
            path,
          });
        }
      } else {
        checkId(p.runAsUser, uid, `${who(c)} runAsUser`, uidPath, violations);
      }
      const gOwn = own?.runAsGroup !== undefined && own.runAsGroup !== null;
      const gid = gOwn ? own!.runAsGroup! : (pod?.runAsGroup ?? undefined);
      const gidPath = gOwn
        ? field(c, 'securityContext.runAsGroup')
        : `${c.pod.path}.securityContext.runAsGroup`;
      checkId(p.runAsGroup, gid, `${who(c)} runAsGroup`, gidPath, violations);
    }
    for (const pod of ctx.podSpecs()) {
      const sc = pod.spec.securityContext;
      checkId(
        p.fsGroup,
        sc?.fsGroup ?? undefined,
        'fsGroup',
        `${pod.path}.securityContext.fsGroup`,
        violations,
      );
      const groups = sc?.supplementalGroups ?? [];
      const sg = p.supplementalGroups;
      const path = `${pod.path}.securityContext.supplementalGroups`;
      if (sg?.rule === 'MustRunAs' && groups.length === 0) {
        violations.push({
          message: `supplementalGroups must be set within ${show(sg.ranges)} (${path})`,
          path,
        });
      } else if (sg?.rule === 'MustRunAs' || sg?.rule === 'MayRunAs') {
        const bad = groups.filter((g) => !inRanges(g, sg.ranges ?? []));
        if (bad.length > 0) {
          violations.push({
            message: `supplementalGroups ${bad.join(', ')} are not in the allowed ranges ${show(sg.ranges)} (${path})`,
            path,
          });
        }
      }
    }
    return violations;
  },
});
