import { definePolicy } from 'tollgate/sdk';

interface Params {
  kvs: { deprecatedAPI?: string; kinds?: string[]; targetAPI?: string }[];
  k8sVersion?: number;
}

/**
 * Port of Gatekeeper's VerifyDeprecatedAPI: an object whose `apiVersion` is listed in `kvs` as deprecated
 * for its kind is refused, naming the API to move to (`targetAPI`; `None` when the API is gone).
 * `k8sVersion` only labels the message. Both the object's apiVersion and the version the user actually
 * sent (`requestKind`, which differs when the API server converted the object for the webhook under
 * matchPolicy: Equivalent) are checked.
 */
export default definePolicy<Params>({
  name: 'verify-deprecated-api',
  description:
    'Objects may not use API versions deprecated for the target Kubernetes version (VerifyDeprecatedAPI).',
  aliases: ['VerifyDeprecatedAPI'],
  parameters: {
    type: 'object',
    properties: {
      kvs: {
        type: 'array',
        default: [],
        items: {
          type: 'object',
          properties: {
            deprecatedAPI: { type: 'string' },
            kinds: { type: 'array', items: { type: 'string' } },
            targetAPI: { type: 'string' },
          },
        },
      },
      k8sVersion: { type: 'number' },
    },
  },
  match: { kinds: [{ apiGroups: ['*'], kinds: ['*'] }], operations: ['CREATE', 'UPDATE'] },
  autogen: false,
  validate(ctx) {
    const o = ctx.object;
    if (o === null) return [];
    const rk = ctx.request.requestKind;
    const requested = rk.group === '' ? rk.version : `${rk.group}/${rk.version}`;
    const used = [o.apiVersion, requested];
    const hit = ctx.params.kvs.find(
      (kv) =>
        used.includes(kv.deprecatedAPI) &&
        ((kv.kinds ?? []).includes(String(o.kind)) || (kv.kinds ?? []).includes(rk.kind)),
    );
    if (hit === undefined) return [];
    const apiVersion = hit.deprecatedAPI;
    const target =
      hit.targetAPI && hit.targetAPI !== 'None' ? `use ${hit.targetAPI} instead` : 'it has no replacement';
    const version = ctx.params.k8sVersion !== undefined ? ` in Kubernetes ${ctx.params.k8sVersion}` : '';
    return [
      {
        message: `${String(o.kind)} ${JSON.stringify(o.metadata?.name ?? '')} uses the deprecated API ${apiVersion}${version}; ${target} (apiVersion)`,
        path: 'apiVersion',
      },
    ];
  },
});
