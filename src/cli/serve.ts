/**
 * `tollgate serve`: load and validate the configuration once, then become the cluster primary
 * (supervisor, metrics, hot reload: src/primary) or, in a forked process, a worker serving the webhook
 * (src/worker). Cluster workers re-enter here with the same argv and environment.
 */
import cluster from 'node:cluster';
import { loadServeConfig, serveUsage } from '../config/index.js';
import { loadUws } from '../uws.js';
import { reportError } from './shared.js';

export async function run(argv: readonly string[]): Promise<number> {
  let loaded: ReturnType<typeof loadServeConfig>;
  try {
    loaded = loadServeConfig({ argv });
    if (loaded.help) {
      process.stdout.write(`${serveUsage()}\n`);
      return 0;
    }
    // Refuse the slow JS fallback before forking anything: one clear error instead of N.
    loadUws();
  } catch (e) {
    return reportError('serve', e);
  }
  const { config } = loaded;
  try {
    if (cluster.isPrimary) {
      const { startPrimary } = await import('../primary/index.js');
      const primary = await startPrimary(config);
      return await primary.closed;
    }
    const { startWorker } = await import('../worker/index.js');
    await startWorker(config);
    return 0;
  } catch (e) {
    return reportError('serve', e);
  }
}
