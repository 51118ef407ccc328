import { definePolicy, type Violation } from 'tollgate/sdk';
import { field, PODS, who } from '../_lib/gatekeeper.js';

interface Params {
  repos: string[];
}

/**
 * Port of Gatekeeper's K8sAllowedRepos: every container, initContainer and ephemeralContainer image must
 * start with one of `repos`. As in Gatekeeper these are plain string prefixes, so end each with `/`
 * (`registry.corp.io/`) to keep a boundary; `trusted-registry` matches on host/port/path boundaries.
 */
export default definePolicy<Params>({
  name: 'allowed-repos',
  description: 'Container images must start with one of the allowed repository prefixes (K8sAllowedRepos).',
  aliases: ['K8sAllowedRepos'],
  parameters: {
    type: 'object',
    properties: { repos: { type: 'array', items: { type: 'string' }, default: [] } },
  },
  match: PODS,
  validate(ctx) {
    const { repos } = ctx.params;
    const violations: Violation[] = [];
    for (const c of ctx.containers()) {
      if (repos.some((r) => c.image.startsWith(r))) continue;
      const path = field(c, 'image');
      violations.push({
        message: `${who(c)} has an invalid image repo ${JSON.stringify(c.image)} (${path}); allowed repos: ${repos.length ? repos.join(', ') : '(none)'}`,
        path,
      });
    }
    return violations;
  },
});
