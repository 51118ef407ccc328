import { definePolicy } from 'tollgate/sdk';
import { containerFieldDefault } from '../_lib/mutation.js';

/**
 * Port of the Gatekeeper library's `default-allow-privilege-escalation` mutation sample (three Assign
 * mutators, one per container list, each with a `MustNotExist` path test): sets
 * `securityContext.allowPrivilegeEscalation` (default false) on every container, initContainer and
 * ephemeralContainer that does not set it. Pods on CREATE, no autogen (Gatekeeper mutates Pods only).
 */
export default definePolicy(
  containerFieldDefault<'allowPrivilegeEscalation', boolean>({
    name: 'mutate-allow-privilege-escalation',
    description: 'Defaults allowPrivilegeEscalation to false on containers that leave it unset.',
    field: 'allowPrivilegeEscalation',
    schema: { type: 'boolean', default: false },
    containerTypes: ['containers', 'initContainers', 'ephemeralContainers'],
  }),
);
