import { type ContainerType, definePolicy } from 'tollgate/sdk';
import {
  assign,
  assignInContainers,
  containerTypesParameter,
  mutatePodSpec,
  OVERWRITE_PARAMETER,
  POD_MUTATION,
} from '../_lib/mutation.js';

interface Params {
  runAsUser: number | null;
  runAsGroup: number | null;
  runAsNonRoot: boolean | null;
  fsGroup: number | null;
  supplementalGroups: number[] | null;
  containerTypes: ContainerType[];
  overwrite: boolean;
}

const ID = { type: ['integer', 'null'], minimum: 0 };

/**
 * Port of the Gatekeeper library's `users` mutation samples (five mutator files, each Assign with a
 * `MustNotExist` path test): `runAsUser` (1000), `runAsGroup` (2000) and `runAsNonRoot` (true) on each
 * container and initContainer, `fsGroup` (3000) and `supplementalGroups` ([3000]) on the pod's
 * `spec.securityContext`, each only where it is unset. `null` turns one default off. Fields are
 * independent: a pod running as root keeps `runAsUser: 0` but still gets the group defaults.
 * Pods on CREATE, no autogen.
 */
export default definePolicy<Params>({
  name: 'mutate-users',
  description:
    'Defaults user and group IDs (runAsUser, runAsGroup, runAsNonRoot, fsGroup, supplementalGroups).',
  parameters: {
    type: 'object',
    properties: {
      runAsUser: { ...ID, default: 1000 },
      runAsGroup: { ...ID, default: 2000 },
      runAsNonRoot: { type: ['boolean', 'null'], default: true },
      fsGroup: { ...ID, default: 3000 },
      supplementalGroups: {
        type: ['array', 'null'],
        items: { type: 'integer', minimum: 0 },
        default: [3000],
      },
      containerTypes: containerTypesParameter(['containers', 'initContainers']),
      overwrite: OVERWRITE_PARAMETER,
    },
  },
  ...POD_MUTATION,
  mutate: mutatePodSpec<Params>((spec, p) => {
    const perContainer = { runAsUser: p.runAsUser, runAsGroup: p.runAsGroup, runAsNonRoot: p.runAsNonRoot };
    const perPod = { fsGroup: p.fsGroup, supplementalGroups: p.supplementalGroups };
    for (const [field, value] of Object.entries(perContainer)) {
      if (value !== null) assignInContainers(spec, p.containerTypes, field, value, p.overwrite);
    }
    for (const [field, value] of Object.entries(perPod)) {
      if (value !== null) assign(spec, ['securityContext', field], value, p.overwrite);
    }
  }),
});
