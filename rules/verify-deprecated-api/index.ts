import { definePolicy } from 'tollgate/sdk';

interface Params {
  kvs: { deprecatedAPI?: string; kinds?: string[]; targetAPI?: string }[];
  k8sVersion?: number;
}

/**
 * Port of Gatekeeper's VerifyDeprecatedAPI: an object whose `apiVersion` is listed in `kvs` as deprecated
 * for its kind is refused, naming the API to move to (`targetAPI`; `None` when the API is gone).
 * `k8sVersion` only labels the message. The check reads the object's apiVersion as sent to the webhook.
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
    const hit = ctx.params.kvs.find(
      (kv) => kv.deprecatedAPI === o.apiVersion && (kv.kinds ?? []).includes(String(o.kind)),
    );
    if (hit === undefined) return [];
    const target =
      hit.targetAPI && hit.targetAPI !== 'None' ? `use ${hit.targetAPI} instead` : 'it has no replacement';
    const version = ctx.params.k8sVersion !== undefined ? ` in Kubernetes ${ctx.params.k8sVersion}` : '';
    return [
      {
        message: `${String(o.kind)} ${JSON.stringify(o.metadata?.name ?? '')} uses the deprecated API ${o.apiVersion}${version}; ${target} (apiVersion)`,
        path: 'apiVersion',
      },
    ];
  },
});
