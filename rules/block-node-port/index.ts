import { definePolicy } from 'tollgate/sdk';
import { dig } from '../_lib/gatekeeper.js';

/** Port of Gatekeeper's K8sBlockNodePort: Services of type NodePort are refused. */
export default definePolicy({
  name: 'block-node-port',
  description: 'Services of type NodePort are refused (K8sBlockNodePort).',
  aliases: ['K8sBlockNodePort'],
  parameters: { type: 'object' },
  match: { kinds: [{ apiGroups: [''], kinds: ['Service'] }], operations: ['CREATE', 'UPDATE'] },
  validate(ctx) {
    if (dig(ctx.object, 'spec', 'type') !== 'NodePort') return [];
    return [
      {
        message: `Service ${JSON.stringify(ctx.object?.metadata?.name ?? '')} has type NodePort, which is not allowed (spec.type)`,
        path: 'spec.type',
      },
    ];
  },
});
