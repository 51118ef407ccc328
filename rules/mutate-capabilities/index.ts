import { type ContainerType, definePolicy } from 'tollgate/sdk';
import {
  assign,
  containersOf,
  containerTypesParameter,
  mergeIntoList,
  mutatePodSpec,
  POD_MUTATION,
} from '../_lib/mutation.js';

interface Params {
  add: string[];
  mode: 'merge' | 'replace';
  containerTypes: ContainerType[];
}

/**
 * Port of the Gatekeeper library's `default-add-capabilities` mutation samples, both variants:
 * `mode: merge` (the ModifySet mutator, the default) appends each capability of `add` that a
 * container's `securityContext.capabilities.add` lacks, keeping what is there; `mode: replace` (the
 * Assign mutator, no path test) sets the list to exactly `add`. Missing parents are created. `add` has
 * no default: the samples' `NEW_CAPABILITY` is a placeholder, not a capability. Like the samples, only
 * `containers` by default. Pods on CREATE, no autogen.
 */
export default definePolicy<Params>({
  name: 'mutate-capabilities',
  description: 'Adds capabilities to containers, merged into or replacing their add list.',
  parameters: {
    type: 'object',
    required: ['add'],
    properties: {
      add: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, uniqueItems: true },
      mode: { type: 'string', enum: ['merge', 'replace'], default: 'merge' },
      containerTypes: containerTypesParameter(['containers']),
    },
  },
  ...POD_MUTATION,
  mutate: mutatePodSpec<Params>((spec, { add, mode, containerTypes }) => {
    const path = ['securityContext', 'capabilities', 'add'];
    for (const c of containersOf(spec, containerTypes)) {
      if (mode === 'merge') mergeIntoList(c, path, add);
      else assign(c, path, add, true);
    }
  }),
});
