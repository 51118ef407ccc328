import { definePolicy } from 'tollgate/sdk';
import { containerFieldDefault } from '../_lib/mutation.js';

interface SELinuxOptions {
  level?: string;
  role?: string;
  type?: string;
  user?: string;
}

/**
 * Port of the Gatekeeper library's `default-selinux` mutation sample (one Assign mutator with a
 * `MustNotExist` path test): sets `securityContext.seLinuxOptions` as a whole (default: the sample's
 * options) on every container without any. Options already there are kept as they are, never merged.
 * Like the sample, only `containers` by default. Pods on CREATE, no autogen.
 */
export default definePolicy(
  containerFieldDefault<'seLinuxOptions', SELinuxOptions>({
    name: 'mutate-selinux',
    description: 'Defaults seLinuxOptions on containers that have none.',
    field: 'seLinuxOptions',
    schema: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        level: { type: 'string' },
        role: { type: 'string' },
        type: { type: 'string' },
        user: { type: 'string' },
      },
      default: { level: 's1:c234,c567', user: 'sysadm_u', role: 'sysadm_r', type: 'svirt_lxc_net_t' },
    },
    containerTypes: ['containers'],
  }),
);
