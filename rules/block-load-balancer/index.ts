import { definePolicy } from 'tollgate/sdk';
import { dig } from '../_lib/gatekeeper.js';

/** Port of Gatekeeper's K8sBlockLoadBalancer: Services of type LoadBalancer are refused. */
export default definePolicy({
  name: 'block-load-balancer',
  description: 'Services of type LoadBalancer are refused (K8sBlockLoadBalancer).',
  aliases: ['K8sBlockLoadBalancer'],
  parameters: { type: 'object' },
  match: { kinds: [{ apiGroups: [''], kinds: ['Service'] }], operations: ['CREATE', 'UPDATE'] },
  validate(ctx) {
    if (dig(ctx.object, 'spec', 'type') !== 'LoadBalancer') return [];
    return [
      {
        message: `Service ${JSON.stringify(ctx.object?.metadata?.name ?? '')} has type LoadBalancer, which is not allowed (spec.type)`,
        path: 'spec.type',
      },
    ];
  },
});
