import { definePolicy } from 'tollgate/sdk';

interface Params {
  registry: string;
  forbiddenTagSuffix: string;
}

/**
 * The seed blog's rule, reproduced word for word: every container image must start with the registry
 * and must not end with `:latest`. Kept as the blog wrote it (string prefix and suffix tests, regular
 * containers only); `trusted-registry` is the policy to run in production.
 */
export default definePolicy<Params>({
  name: 'seed-image-check',
  description: "The seed blog's image rule: registry prefix and no :latest tag (regular containers only).",
  parameters: {
    type: 'object',
    additionalProperties: false,
    required: ['registry'],
    properties: {
      registry: { type: 'string', minLength: 1 },
      forbiddenTagSuffix: { type: 'string', default: ':latest' },
    },
  },
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE'] },
  autogen: false,
  validate(ctx) {
    const { registry, forbiddenTagSuffix } = ctx.params;
    const violations = [];
    for (const c of ctx.containers(['containers'])) {
      if (!c.image.startsWith(registry)) {
        violations.push({ message: `${c.image} repo not start with ${registry}`, path: `${c.path}.image` });
      }
      if (c.image.endsWith(forbiddenTagSuffix)) {
        violations.push({
          message: `${c.image} tag end with ${forbiddenTagSuffix}`,
          path: `${c.path}.image`,
        });
      }
    }
    return violations;
  },
});
