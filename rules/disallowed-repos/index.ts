import { definePolicy, type Violation } from 'tollgate/sdk';
import { field, PODS, who } from '../_lib/gatekeeper.js';

interface Params {
  repos: string[];
}

/**
 * Port of Gatekeeper's K8sDisallowedRepos: no container, initContainer or ephemeralContainer image may
 * start with one of `repos` (plain string prefixes, as in Gatekeeper).
 */
export default definePolicy<Params>({
  name: 'disallowed-repos',
  description:
    'Container images must not start with any of the disallowed repository prefixes (K8sDisallowedRepos).',
  aliases: ['K8sDisallowedRepos'],
  parameters: {
    type: 'object',
    properties: { repos: { type: 'array', items: { type: 'string' }, default: [] } },
  },
  match: PODS,
  validate(ctx) {
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      const hit = ctx.params.repos.find((r) => r !== '' && c.image.startsWith(r));
      if (hit === undefined) continue;
      const path = field(c, 'image');
      violations.push({
        message: `${who(c)} has an image ${JSON.stringify(c.image)} from the disallowed repo ${JSON.stringify(hit)} (${path})`,
        path,
      });
    }
    return violations;
  },
});
