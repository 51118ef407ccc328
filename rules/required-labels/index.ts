import { definePolicy } from 'tollgate/sdk';
import { checkRequired, REQUIREMENTS_SCHEMA, type Requirement } from '../_lib/metadata.js';

interface Params {
  labels: Requirement[];
  message?: string;
}

/**
 * Port of Gatekeeper's K8sRequiredLabels: the object must carry every listed label, and where
 * `allowedRegex` is set the value must match it (unanchored, as in Gatekeeper: anchor it with ^…$).
 * `message`, when given, leads each violation. Applies to the object itself (no pod-template autogen);
 * bind it with `match.kinds` to the kinds that need the labels.
 */
export default definePolicy<Params>({
  name: 'required-labels',
  description:
    'Objects must carry the listed labels, with values matching a regex where one is given (K8sRequiredLabels).',
  aliases: ['K8sRequiredLabels'],
  parameters: { type: 'object', properties: { message: { type: 'string' }, labels: REQUIREMENTS_SCHEMA } },
  match: { kinds: [{ apiGroups: ['*'], kinds: ['*'] }], operations: ['CREATE', 'UPDATE'] },
  autogen: false,
  validate: (ctx) => checkRequired(ctx.object, 'labels', ctx.params.labels, ctx.params.message),
});
