import { definePolicy, podSpecs } from 'tollgate/sdk';

interface Params {
  allowedUsers: string[];
  allowedGroups: string[];
}

/**
 * Port of Gatekeeper's NoUpdateServiceAccount: on UPDATE of a pod-owning workload, the pod template's
 * `serviceAccountName` may not change (an unset name is `default`), unless the requesting user or one
 * of their groups is allowed. This stops a user who may edit a workload from borrowing another
 * ServiceAccount's permissions.
 */
export default definePolicy<Params>({
  name: 'no-update-service-account',
  description:
    'The serviceAccountName of workloads may not change on update, except for allowed users (NoUpdateServiceAccount).',
  aliases: ['NoUpdateServiceAccount'],
  parameters: {
    type: 'object',
    properties: {
      allowedUsers: { type: 'array', items: { type: 'string' }, default: [] },
      allowedGroups: { type: 'array', items: { type: 'string' }, default: [] },
    },
  },
  match: {
    kinds: [
      { apiGroups: [''], kinds: ['ReplicationController'] },
      { apiGroups: ['apps'], kinds: ['ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet'] },
      { apiGroups: ['batch'], kinds: ['CronJob', 'Job'] },
    ],
    operations: ['UPDATE'],
  },
  autogen: false,
  validate(ctx) {
    if (ctx.request.operation !== 'UPDATE' || ctx.oldObject === null) return [];
    const { username, groups } = ctx.request.userInfo;
    if (username !== undefined && ctx.params.allowedUsers.includes(username)) return [];
    if ((groups ?? []).some((g) => ctx.params.allowedGroups.includes(g))) return [];
    const now = podSpecs(ctx.object)[0];
    const before = podSpecs(ctx.oldObject)[0];
    if (now === undefined || before === undefined) return [];
    const name = (s: typeof now) => s.spec.serviceAccountName || 'default';
    if (name(now) === name(before)) return [];
    const path = `${now.path}.serviceAccountName`;
    return [
      {
        message: `changing the service account from ${JSON.stringify(name(before))} to ${JSON.stringify(name(now))} is not allowed for ${JSON.stringify(username ?? '')} (${path})`,
        path,
      },
    ];
  },
});
