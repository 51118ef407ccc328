// Thread entry when Tollgate runs from its TypeScript sources (tests, benchmarks): on Node 20 the
// `--import tsx` hooks of the process do not reach worker threads, so register tsx here and load the
// real task module. Built code (dist/engine/thread.js) is used directly.
import { register } from 'tsx/esm/api';

register();
const { default: handle } = await import('./thread.ts');

export default handle;
