import { definePolicy, type Violation } from 'tollgate/sdk';
import { field, isExempt, PODS, who } from '../_lib/gatekeeper.js';

interface Params {
  allowedImages: string[];
}

/**
 * Port of Gatekeeper's K8sAllowedReposv2: every image must equal an entry of `allowedImages`, or start
 * with the part before the `*` of an entry ending in `*` (`myregistry.azurecr.io/*`). Unlike the v1
 * prefixes, `ubuntu:20.14` admits exactly that image and `registry.io/*` needs the slash.
 */
export default definePolicy<Params>({
  name: 'allowed-repos-v2',
  description:
    'Container images must match an allowed image exactly or by a trailing-* prefix (K8sAllowedReposv2).',
  aliases: ['K8sAllowedReposv2'],
  parameters: {
    type: 'object',
    properties: { allowedImages: { type: 'array', items: { type: 'string' }, default: [] } },
  },
  match: PODS,
  validate(ctx) {
    const { allowedImages } = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, allowedImages)) continue;
      const path = field(c, 'image');
      violations.push({
        message: `${who(c)} image ${JSON.stringify(c.image)} is not allowed (${path}); allowed images: ${allowedImages.join(', ') || '(none)'}`,
        path,
      });
    }
    return violations;
  },
});
