import { definePolicy } from 'tollgate/sdk';
import { containerFieldDefault } from '../_lib/mutation.js';

/**
 * Port of the Gatekeeper library's `read-only-root-filesystem` mutation sample (one Assign mutator
 * with a `MustNotExist` path test): sets `securityContext.readOnlyRootFilesystem` (default true) on
 * every container that does not set it. Like the sample, only `containers` by default; add
 * `initContainers`/`ephemeralContainers` to `containerTypes` to cover them. Pods on CREATE, no autogen.
 */
export default definePolicy(
  containerFieldDefault<'readOnlyRootFilesystem', boolean>({
    name: 'mutate-read-only-root-filesystem',
    description: 'Defaults readOnlyRootFilesystem to true on containers that leave it unset.',
    field: 'readOnlyRootFilesystem',
    schema: { type: 'boolean', default: true },
    containerTypes: ['containers'],
  }),
);
