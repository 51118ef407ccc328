import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS, who } from '../_lib/gatekeeper.js';

interface Params {
  exemptImages: string[];
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

/**
 * Port of Gatekeeper's K8sImageDigests: every image must be pinned by a well-formed digest
 * (`@sha256:<hex>`), except those in `exemptImages` (exact, or a prefix ending in `*`).
 */
export default definePolicy<Params>({
  name: 'image-digests',
  description: 'Container images must be pinned by digest (K8sImageDigests).',
  aliases: ['K8sImageDigests'],
  parameters: {
    type: 'object',
    properties: { exemptImages: { ...EXEMPT_IMAGES, default: [] } },
  },
  match: PODS,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, ctx.params.exemptImages)) continue;
      const { digest } = ctx.parseImage(c.image);
      if (digest !== undefined && DIGEST.test(digest)) continue;
      const path = field(c, 'image');
      const why = digest === undefined ? 'is not pinned by digest' : 'has a malformed digest';
      violations.push({
        message: `${who(c)} image ${JSON.stringify(c.image)} ${why} (${path}); use name@sha256:<hex>`,
        path,
      });
    }
    return violations;
  },
});
