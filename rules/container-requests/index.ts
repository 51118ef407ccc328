import { maximaPolicy } from '../_lib/resources.js';

/**
 * Port of Gatekeeper's K8sContainerRequests: containers and initContainers must set CPU and memory
 * requests, each no larger than the configured maximum (`-1` or absence skips a resource).
 */
export default maximaPolicy({
  name: 'container-requests',
  description:
    'Containers must set CPU and memory requests no larger than the maxima (K8sContainerRequests).',
  alias: 'K8sContainerRequests',
  section: 'requests',
});
