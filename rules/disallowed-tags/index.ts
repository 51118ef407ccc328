import { definePolicy, type Violation } from 'tollgate/sdk';
import { EXEMPT_IMAGES, field, isExempt, PODS, who } from '../_lib/gatekeeper.js';

interface Params {
  tags: string[];
  exemptImages: string[];
}

/**
 * Port of Gatekeeper's K8sDisallowedTags: every image must name a tag (or be pinned by digest), and the
 * tag must not be one of `tags`. Images in `exemptImages` (exact, or a prefix ending in `*`) are skipped.
 */
export default definePolicy<Params>({
  name: 'disallowed-tags',
  description: 'Container images must carry an explicit tag that is not disallowed (K8sDisallowedTags).',
  aliases: ['K8sDisallowedTags'],
  parameters: {
    type: 'object',
    properties: {
      tags: { type: 'array', items: { type: 'string' }, default: [] },
      exemptImages: { ...EXEMPT_IMAGES, default: [] },
    },
  },
  match: PODS,
  validate(ctx) {
    const { tags, exemptImages } = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (isExempt(c.image, exemptImages)) continue;
      const ref = ctx.parseImage(c.image);
      const path = field(c, 'image');
      if (!ref.explicitTag) {
        if (ref.digest !== undefined) continue;
        violations.push({
          message: `${who(c)} image ${JSON.stringify(c.image)} has no tag (${path}); name a tag or a digest`,
          path,
        });
      } else if (ref.tag !== undefined && tags.includes(ref.tag)) {
        violations.push({
          message: `${who(c)} image ${JSON.stringify(c.image)} uses the disallowed tag ${JSON.stringify(ref.tag)} (${path}); disallowed: ${tags.join(', ')}`,
          path,
        });
      }
    }
    return violations;
  },
});
