import { maximaPolicy } from '../_lib/resources.js';

/**
 * Port of Gatekeeper's K8sContainerLimits: containers and initContainers must set CPU and memory limits,
 * each no larger than the configured maximum. A maximum of `-1` (or leaving it out) skips that resource.
 * Ephemeral containers cannot set resources, so they are not checked.
 */
export default maximaPolicy({
  name: 'container-limits',
  description: 'Containers must set CPU and memory limits no larger than the maxima (K8sContainerLimits).',
  alias: 'K8sContainerLimits',
  section: 'limits',
});
