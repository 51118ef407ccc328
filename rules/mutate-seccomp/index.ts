import { definePolicy } from 'tollgate/sdk';
import { assign, mutatePodSpec, OVERWRITE_PARAMETER, POD_MUTATION } from '../_lib/mutation.js';

interface Params {
  seccompProfile: { type: 'RuntimeDefault' | 'Localhost' | 'Unconfined'; localhostProfile?: string };
  overwrite: boolean;
}

/**
 * Port of the Gatekeeper library's `default-seccomp` mutation sample (one Assign mutator with a
 * `MustNotExist` path test): sets the pod-level `spec.securityContext.seccompProfile` (default
 * `{type: RuntimeDefault}`) when the pod has none, creating `spec.securityContext` if needed.
 * Container-level profiles are not touched (they override the pod's). Pods on CREATE, no autogen.
 */
export default definePolicy<Params>({
  name: 'mutate-seccomp',
  description: 'Defaults the pod seccompProfile to RuntimeDefault when none is set.',
  parameters: {
    type: 'object',
    properties: {
      seccompProfile: {
        type: 'object',
        additionalProperties: false,
        required: ['type'],
        properties: {
          type: { type: 'string', enum: ['RuntimeDefault', 'Localhost', 'Unconfined'] },
          localhostProfile: { type: 'string' },
        },
        default: { type: 'RuntimeDefault' },
      },
      overwrite: OVERWRITE_PARAMETER,
    },
  },
  ...POD_MUTATION,
  mutate: mutatePodSpec<Params>((spec, { seccompProfile, overwrite }) =>
    assign(spec, ['securityContext', 'seccompProfile'], seccompProfile, overwrite),
  ),
});
