/**
 * The engine a worker serves with: the piscina thread pool, so policy code never runs on the worker's
 * event loop (a slow or looping policy cannot stall the HTTP server; the pool's watchdog replaces a
 * stuck thread). Reloads swap the pool's threads; requests in flight finish on the set they started with.
 */
import type { ServeConfig } from '../config/index.js';
import { DEFAULT_RESOURCE_LIMITS, PoolEngine } from '../engine/pool.js';
import type { Engine } from '../engine/reply.js';
import type { PolicySetSource } from '../engine/types.js';

export interface WorkerEngine extends Engine {
  reload(source: PolicySetSource): Promise<void>;
  /**
   * The engine counts tollgate_requests_total and the policy metrics of every reply it gives (on its
   * threads); the server then records only the request duration. Replies carry a decision only when
   * the log needs it: denials and failures, and every reply at log level debug.
   */
  readonly countsEvaluations: boolean;
  /** Bring counts made elsewhere (pool threads) into this process's metrics: before a scrape. */
  flushMetrics(): Promise<void>;
  /** Binding documents in the active set, for the bindings_loaded gauge. */
  readonly bindingCount: number;
}

class PoolWorkerEngine implements WorkerEngine {
  private bindings: number;

  constructor(
    private readonly pool: PoolEngine,
    source: PolicySetSource,
  ) {
    this.bindings = source.bindings.length;
  }

  get bindingCount(): number {
    return this.bindings;
  }

  readonly countsEvaluations = true;

  flushMetrics(): Promise<void> {
    return this.pool.flushMetrics();
  }

  evaluate(req: Parameters<Engine['evaluate']>[0]): ReturnType<Engine['evaluate']> {
    return this.pool.evaluate(req);
  }

  async reload(source: PolicySetSource): Promise<void> {
    await this.pool.reload(source);
    this.bindings = source.bindings.length;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export async function createWorkerEngine(
  source: PolicySetSource,
  config: ServeConfig,
): Promise<WorkerEngine> {
  const pool = await PoolEngine.create(source, {
    threads: config.threads,
    maxQueue: config.maxQueue,
    // V8 sizes the young generation at three semi-spaces; the worker's own isolate gets the same
    // semi-space from the primary (--max-semi-space-size).
    resourceLimits: { ...DEFAULT_RESOURCE_LIMITS, maxYoungGenerationSizeMb: 3 * config.semiSpaceMb },
    // The server always passes the request's own budget; this covers calls that name none.
    timeoutMs: Math.max(1, config.defaultTimeoutMs - config.timeoutMarginMs),
    threadMetrics: true,
    decisions: config.logLevel === 'debug' || config.logLevel === 'trace' ? 'all' : 'notable',
  });
  return new PoolWorkerEngine(pool, source);
}
