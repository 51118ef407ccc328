import { definePolicy } from 'tollgate/sdk';
import { checkRequired, REQUIREMENTS_SCHEMA, type Requirement } from '../_lib/metadata.js';

interface Params {
  annotations: Requirement[];
  message?: string;
}

/**
 * Port of Gatekeeper's K8sRequiredAnnotations: the object must carry every listed annotation, with a
 * value matching `allowedRegex` where one is set. `message`, when given, leads each violation.
 * Applies to the object itself; bind it with `match.kinds`.
 */
export default definePolicy<Params>({
  name: 'required-annotations',
  description:
    'Objects must carry the listed annotations, with values matching a regex (K8sRequiredAnnotations).',
  aliases: ['K8sRequiredAnnotations'],
  parameters: {
    type: 'object',
    properties: { message: { type: 'string' }, annotations: REQUIREMENTS_SCHEMA },
  },
  match: { kinds: [{ apiGroups: ['*'], kinds: ['*'] }], operations: ['CREATE', 'UPDATE'] },
  autogen: false,
  validate: (ctx) => checkRequired(ctx.object, 'annotations', ctx.params.annotations, ctx.params.message),
});
