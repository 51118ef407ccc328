/**
 * The engine a worker serves with, behind one small interface: evaluate, reload with a new policy set
 * (from the primary), close. Requests in flight finish on the set they started with.
 */
import type { ServeConfig } from '../config/index.js';
import { type Engine, InlineEngine } from '../engine/engine.js';
import { buildPolicySet } from '../engine/policy-set.js';
import type { PolicySetSource } from '../engine/types.js';

export interface WorkerEngine extends Engine {
  reload(source: PolicySetSource): Promise<void>;
  /** Bindings in the active set, for the bindings_loaded gauge. */
  readonly bindingCount: number;
}

/** Evaluates on the worker's own thread: used until the thread pool engine is available. */
class InlineWorkerEngine implements WorkerEngine {
  private constructor(private current: InlineEngine) {}

  static async create(source: PolicySetSource): Promise<InlineWorkerEngine> {
    return new InlineWorkerEngine(InlineEngine.fromPolicySet(await buildPolicySet(source)));
  }

  get bindingCount(): number {
    return this.current.policySet.bindings.length;
  }

  evaluate(req: Parameters<Engine['evaluate']>[0]): ReturnType<Engine['evaluate']> {
    return this.current.evaluate(req);
  }

  async reload(source: PolicySetSource): Promise<void> {
    this.current = InlineEngine.fromPolicySet(await buildPolicySet(source));
  }

  async close(): Promise<void> {
    await this.current.close();
  }
}

export async function createWorkerEngine(
  source: PolicySetSource,
  _config: ServeConfig,
): Promise<WorkerEngine> {
  return InlineWorkerEngine.create(source);
}
