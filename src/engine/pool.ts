/**
 * PoolEngine: the Engine that evaluates on piscina threads, so policy code never runs on a server
 * worker's event-loop thread.
 *
 * API (stable; src/worker relies on it):
 *
 *   const engine = await PoolEngine.create(loadOptions | policySetSource, { threads, maxQueue, timeoutMs, resourceLimits });
 *   const reply = await engine.evaluate({ body, endpoint, timeoutMs }); // never rejects
 *   await engine.reload(source);  // rejects with the load error, the old set keeps serving
 *   engine.stats();               // queue depth, in flight, utilisation, restarts by reason, rejected
 *   await engine.close();
 *
 * `evaluate` copies `body` once into the batch buffer (the caller may reuse its buffer afterwards).
 *
 * How a request travels (the hop is the main cost, so it is paid per batch, not per request):
 * - Requests queue here (bounded by `maxQueue`; beyond it they are answered at once with 503
 *   TOLLGATE_ERR_POOL_OVERLOADED, no Retry-After: the API server applies the webhook's failurePolicy).
 * - Whenever a thread is free (on `setImmediate` after arrivals, and at once when a batch completes),
 *   everything queued is split over the free threads: one piscina task per thread, its bodies packed into
 *   one ArrayBuffer that is transferred. Under load, batches grow by themselves while threads are busy.
 * - The thread decodes each body once, evaluates (handleRequest, in order) and answers every request with
 *   {status, body, decision}; the decision travels without `patched` and `response.patch` (the body has
 *   them), its evaluations (binding, policy, outcome, durationNs, error code) stay for metrics.
 *
 * Deadlines. A request's deadline is `timeoutMs` (the request's, else the option) from arrival. Each batch
 * carries a SharedArrayBuffer progress slot where the thread publishes the item and binding it runs and
 * that binding's deadline (its timeoutMs, bounded by the request's). A watchdog (every `watchdogMs`) reads
 * the slots: a binding past its deadline, or an item past the request's, means the thread is stuck
 * (a synchronous loop can't be interrupted from inside). The watchdog then answers the stuck request by
 * the binding's failure policy (403 TOLLGATE_ERR_POLICY_TIMEOUT naming the binding, or allowed with a
 * warning under failurePolicy allow unless an earlier binding of the same request had denied), aborts the
 * piscina task (piscina terminates that thread and starts a replacement), and requeues the batch's other
 * requests, which are pure and are evaluated again elsewhere. A thread that dies of its heap limit
 * (ERR_WORKER_OUT_OF_MEMORY) or crashes is handled the same way with TOLLGATE_ERR_POLICY_CRASHED.
 * Queued requests that reach their deadline before a thread takes them get a 503.
 *
 * Reload builds a second piscina pool from the new source and waits until every one of its threads has
 * built the set (a broken set rejects and the new pool is destroyed); then one assignment switches new
 * batches to it (a request is evaluated entirely by one set), and the old pool drains and is destroyed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { decodeReview } from '../admission/decode.js';
import { encodeReview, encodeStatus, sanitizeWarnings } from '../admission/encode.js';
import type { AdmissionResponse } from '../admission/types.js';
import { describeError, type ErrorCode, TollgateError } from '../errors.js';
import {
  type BatchItem,
  type BatchTask,
  type BindingSummary,
  type FromThread,
  type HelloTask,
  now,
  Progress,
  type ThreadInit,
  unexpected,
} from '../ipc/thread-messages.js';
import { poolQueueDepth, poolRejected, poolUtilization, threadRestarts } from '../metrics/index.js';
import {
  type Endpoint,
  type Engine,
  type EngineReply,
  type EngineRequest,
  errorReply,
  type LoadOptions,
  loadSource,
} from './engine.js';
import type { Decision, EvaluationRecord, PolicySetSource } from './types.js';

export interface PoolOptions {
  /** Threads in the pool (default 1: one server worker per core, each with its own pool). */
  readonly threads?: number;
  /** Requests waiting for a thread before new ones are refused at once with 503 (default 1024). */
  readonly maxQueue?: number;
  /** Evaluation budget of a request that names none (default 9000 ms, under the API server's 10 s). */
  readonly timeoutMs?: number;
  /** Heap limits of each thread; an allocation bomb kills its thread, not the process. */
  readonly resourceLimits?: ResourceLimits;
  /** Most requests in one batch (default 64). */
  readonly maxBatch?: number;
  /** How long threads may take to build a policy set at start or reload (default 30 s). */
  readonly loadTimeoutMs?: number;
  /** Watchdog period (default 10 ms): deadline precision. */
  readonly watchdogMs?: number;
}

export type RestartReason = 'timeout' | 'heap' | 'crash';

export interface PoolStats {
  /** Requests waiting for a thread. */
  readonly queueDepth: number;
  /** Requests in batches on threads. */
  readonly inFlight: number;
  /** piscina's utilisation of the active pool (0..1). */
  readonly utilization: number;
  readonly threads: number;
  /** Threads that have built the set and are waiting for work. */
  readonly idleThreads: number;
  readonly restarts: Readonly<Record<RestartReason, number>>;
  /** Requests refused at once because the queue was full. */
  readonly rejected: number;
}

type Resolved = Required<Omit<PoolOptions, 'resourceLimits'>> & { readonly resourceLimits: ResourceLimits };

const DEFAULT_RESOURCE_LIMITS: ResourceLimits = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 };
/** A request is evaluated at most this many times (it is retried only when another one killed its thread). */
const MAX_ATTEMPTS = 3;

/**
 * The task module's file. Built code uses dist/engine/thread.js. From TypeScript sources (tests,
 * benchmarks) the process's `--import tsx` hooks do not reach worker threads on Node 20, and tsx in every
 * thread costs seconds per (re)start; so the task module is bundled once with esbuild (a dependency
 * already) under node_modules/.cache, where its package imports still resolve.
 */
let threadFile: Promise<string> | undefined;

function taskModule(): Promise<string> {
  threadFile ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) return fileURLToPath(new URL('./thread.js', import.meta.url));
    const entry = fileURLToPath(new URL('./thread.ts', import.meta.url));
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'inline',
      logLevel: 'silent',
    });
    const code = out.outputFiles[0]!.text;
    const dir = join(fileURLToPath(new URL('../../node_modules/.cache/tollgate', import.meta.url)));
    const file = join(dir, `thread-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, file);
    }
    return file;
  })();
  return threadFile;
}

function resolveOptions(o: PoolOptions): Resolved {
  const positive = (name: string, v: number | undefined, d: number): number => {
    if (v === undefined) return d;
    if (!Number.isFinite(v) || v <= 0) {
      throw new TollgateError(
        'TOLLGATE_ERR_CONFIG_INVALID',
        `pool option ${name} must be a positive number (got ${v})`,
      );
    }
    return v;
  };
  return {
    threads: Math.min(Math.floor(positive('threads', o.threads, 1)), Math.max(4, availableParallelism() * 4)),
    maxQueue: Math.floor(positive('maxQueue', o.maxQueue, 1024)),
    timeoutMs: positive('timeoutMs', o.timeoutMs, 9000),
    resourceLimits: o.resourceLimits ?? DEFAULT_RESOURCE_LIMITS,
    maxBatch: Math.floor(positive('maxBatch', o.maxBatch, 64)),
    loadTimeoutMs: positive('loadTimeoutMs', o.loadTimeoutMs, 30_000),
    watchdogMs: positive('watchdogMs', o.watchdogMs, 10),
  };
}

function isSource(v: LoadOptions | PolicySetSource): v is PolicySetSource {
  return Array.isArray((v as PolicySetSource).policies) && Array.isArray((v as PolicySetSource).bindings);
}

function unavailable(message: string): EngineReply {
  return {
    status: 503,
    body: encodeStatus(503, 'ServiceUnavailable', message),
    error: { code: 'TOLLGATE_ERR_POOL_OVERLOADED', message },
  };
}

const OVERLOADED = unavailable('evaluation queue is full');

/** One request waiting for, or being evaluated by, a thread. */
interface Job {
  readonly body: Uint8Array;
  readonly endpoint: Endpoint;
  readonly deadline: number;
  readonly resolve: (r: EngineReply) => void;
  attempts: number;
  done: boolean;
}

/** One piscina task: jobs evaluated in order on one thread. */
interface Batch {
  readonly group: ThreadGroup;
  readonly jobs: readonly Job[];
  readonly cells: Int32Array;
  readonly bindingDeadline: Float64Array;
  readonly abort: AbortController;
  stopped: boolean;
}

/**
 * A reply by failure policy for a request whose thread was stopped in binding `b` (decoded here, on the
 * rare path, only for its apiVersion and uid). Mirrors evaluate.ts: a failing `deny` binding with
 * failurePolicy deny denies; otherwise the request is allowed with a warning (none for dryrun) — unless
 * the thread had already seen a denial for this request, whose details died with the thread.
 */
export function failureReply(
  body: Uint8Array,
  b: BindingSummary | undefined,
  code: ErrorCode,
  message: string,
  deniedBefore: boolean,
): EngineReply {
  let review: ReturnType<typeof decodeReview>;
  try {
    review = decodeReview(body);
  } catch (e) {
    return errorReply(e);
  }
  if (b === undefined) {
    // Stopped outside any policy (decoding, encoding): no failure policy applies; the API server's does.
    return errorReply(new TollgateError(code, `evaluation stopped: ${message}`));
  }
  const req = review.request;
  const text = `[${b.name}] policy failed (${code}): ${message}`;
  const record: EvaluationRecord = {
    binding: b.name,
    policy: b.policy,
    action: b.action,
    failurePolicy: b.failurePolicy,
    outcome: code === 'TOLLGATE_ERR_POLICY_TIMEOUT' ? 'timeout' : 'error',
    violations: [],
    error: { code, message },
    durationNs: 0,
  };
  let response: AdmissionResponse;
  if ((b.action === 'deny' && b.failurePolicy === 'deny') || deniedBefore) {
    const why =
      deniedBefore && b.failurePolicy === 'allow' ? `${text}; an earlier binding denied this request` : text;
    response = { uid: req.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: why } };
  } else {
    const warnings =
      b.action === 'dryrun'
        ? []
        : sanitizeWarnings([b.failurePolicy === 'deny' ? text : `${text}; allowed by failurePolicy`]);
    response = { uid: req.uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) };
  }
  const decision: Decision = {
    response,
    uid: req.uid,
    kind: req.kind.kind,
    namespace: req.namespace,
    name: req.name ?? req.object?.metadata?.name ?? req.oldObject?.metadata?.name,
    operation: req.operation,
    evaluations: [record],
  };
  return { status: 200, body: encodeReview(review.apiVersion, response), decision };
}

interface GroupEvents {
  /** A thread died while idle (piscina replaces it). */
  readonly idleCrash: () => void;
  readonly threadReady: () => void;
}

/** One piscina pool serving one policy set. */
class ThreadGroup {
  readonly inFlight = new Set<Batch>();
  private idle: (() => void)[] = [];

  private constructor(
    readonly piscina: Piscina<HelloTask | BatchTask, FromThread>,
    readonly bindings: readonly BindingSummary[],
  ) {}

  /** Start the threads and wait until every one has built the set; a broken set rejects. */
  static async start(source: PolicySetSource, o: Resolved, events: GroupEvents): Promise<ThreadGroup> {
    const piscina = new Piscina<HelloTask | BatchTask, FromThread>({
      filename: await taskModule(),
      minThreads: o.threads,
      maxThreads: o.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      resourceLimits: o.resourceLimits,
      workerData: { source } satisfies ThreadInit,
    });
    piscina.on('error', () => events.idleCrash());
    // A replacement thread is ready: queued requests may go.
    piscina.on('workerCreate', () => events.threadReady());
    let timer: NodeJS.Timeout | undefined;
    try {
      // One hello per thread: a thread answers only once its set is built, and each is busy until then,
      // so piscina hands the hellos to distinct threads.
      const hellos = Promise.all(Array.from({ length: o.threads }, () => piscina.run({ type: 'hello' })));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new TollgateError(
                'TOLLGATE_ERR_POLICY_TIMEOUT',
                `pool threads did not load the policy set within ${o.loadTimeoutMs} ms (does a policy loop at module level?)`,
              ),
            ),
          o.loadTimeoutMs,
        );
      });
      const answers = await Promise.race([hellos, timeout]).catch((e: unknown) => {
        if (e instanceof TollgateError) throw e;
        throw new TollgateError(
          'TOLLGATE_ERR_POLICY_CRASHED',
          `a pool thread died while loading the policy set: ${describeError(e)}`,
        );
      });
      let bindings: readonly BindingSummary[] = [];
      for (const a of answers) {
        switch (a.type) {
          case 'ready':
            bindings = a.bindings;
            break;
          case 'load-failed':
            throw new TollgateError(a.error.code, a.error.message);
          case 'batch-done':
            throw new TollgateError('TOLLGATE_ERR_INTERNAL', 'a pool thread answered hello with a batch');
          default:
            unexpected(a);
        }
      }
      return new ThreadGroup(piscina, bindings);
    } catch (e) {
      await piscina.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  settle(b: Batch): void {
    this.inFlight.delete(b);
    if (this.inFlight.size === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  whenIdle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

export class PoolEngine implements Engine {
  private queue: Job[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly draining = new Set<ThreadGroup>();
  private reloading: Promise<void> = Promise.resolve();
  private readonly watchdog: NodeJS.Timeout;
  private ticks = 0;
  private rejected = 0;
  private readonly restarts: Record<RestartReason, number> = { timeout: 0, heap: 0, crash: 0 };
  private readonly events: GroupEvents = {
    idleCrash: () => this.restarted('crash'),
    threadReady: () => this.schedule(),
  };

  private constructor(
    private group: ThreadGroup,
    private readonly o: Resolved,
  ) {
    this.watchdog = setInterval(this.tick, o.watchdogMs).unref();
  }

  /** Load (compile, read) on this thread, then build the set on the pool threads. */
  static async create(from: LoadOptions | PolicySetSource, options: PoolOptions = {}): Promise<PoolEngine> {
    const o = resolveOptions(options);
    const source = isSource(from) ? from : await loadSource(from);
    let engine: PoolEngine | undefined;
    const group = await ThreadGroup.start(source, o, {
      idleCrash: () => engine?.restarted('crash'),
      threadReady: () => engine?.schedule(),
    });
    engine = new PoolEngine(group, o);
    return engine;
  }

  evaluate(req: EngineRequest): Promise<EngineReply> {
    if (this.closed) return Promise.resolve(unavailable('the engine is shutting down'));
    if (this.queue.length >= this.o.maxQueue) {
      this.rejected++;
      poolRejected.inc();
      return Promise.resolve(OVERLOADED);
    }
    const deadline = now() + (req.timeoutMs ?? this.o.timeoutMs);
    return new Promise((resolve) => {
      this.queue.push({
        body: req.body,
        endpoint: req.endpoint,
        deadline,
        resolve,
        attempts: 0,
        done: false,
      });
      this.schedule();
    });
  }

  /** Flush after the current event-loop turn, so requests arriving together travel together. */
  private schedule(): void {
    if (!this.flushScheduled && this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Replace the policy set; resolves once the old threads are drained and gone. */
  reload(source: PolicySetSource): Promise<void> {
    const run = this.reloading.then(() => this.swap(source));
    this.reloading = run.catch(() => {});
    return run;
  }

  stats(): PoolStats {
    let inFlight = 0;
    for (const g of [this.group, ...this.draining]) for (const b of g.inFlight) inFlight += b.jobs.length;
    return {
      queueDepth: this.queue.length,
      inFlight,
      utilization: this.group.piscina.utilization,
      threads: this.group.piscina.threads.length,
      idleThreads: this.group.piscina.idleThreads,
      restarts: { ...this.restarts },
      rejected: this.rejected,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.queue.splice(0)) this.answer(j, unavailable('the engine is shutting down'));
    await this.reloading;
    const groups = [this.group, ...this.draining];
    // The watchdog keeps running until then, so a stuck thread cannot hold close() forever.
    await Promise.all(groups.map((g) => g.whenIdle()));
    clearInterval(this.watchdog);
    await Promise.all(groups.map((g) => g.piscina.destroy()));
  }

  private async swap(source: PolicySetSource): Promise<void> {
    if (this.closed) throw new TollgateError('TOLLGATE_ERR_INTERNAL', 'reload after close');
    const next = await ThreadGroup.start(source, this.o, this.events);
    if (this.closed) {
      await next.piscina.destroy();
      throw new TollgateError('TOLLGATE_ERR_INTERNAL', 'engine closed during reload');
    }
    const old = this.group;
    this.group = next;
    this.draining.add(old);
    this.flush();
    await old.whenIdle();
    this.draining.delete(old);
    await old.piscina.destroy();
  }

  private answer(j: Job, r: EngineReply): void {
    if (j.done) return;
    j.done = true;
    j.resolve(r);
  }

  private restarted(reason: RestartReason): void {
    this.restarts[reason]++;
    threadRestarts.inc({ reason });
  }

  /** Hand everything queued to the free threads of the active pool, one batch per free thread. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const g = this.group;
    // Ready threads without a task: a thread still building its set (a replacement) takes nothing yet.
    let free = g.piscina.idleThreads;
    while (free > 0 && this.queue.length > 0) {
      const n = Math.min(this.o.maxBatch, Math.ceil(this.queue.length / free));
      this.dispatch(g, this.queue.splice(0, n));
      free--;
    }
    poolQueueDepth.set(this.queue.length);
  };

  private dispatch(g: ThreadGroup, jobs: Job[]): void {
    let total = 0;
    for (const j of jobs) total += j.body.byteLength;
    const bytes = new ArrayBuffer(total);
    const view = new Uint8Array(bytes);
    const items: BatchItem[] = [];
    let offset = 0;
    for (const j of jobs) {
      view.set(j.body, offset);
      items.push({ offset, length: j.body.byteLength, endpoint: j.endpoint, deadline: j.deadline });
      offset += j.body.byteLength;
      j.attempts++;
    }
    const progress = new SharedArrayBuffer(Progress.BYTES);
    const cells = new Int32Array(progress, 0, Progress.INT32_CELLS);
    cells[Progress.ITEM] = -1;
    cells[Progress.BINDING] = -1;
    const batch: Batch = {
      group: g,
      jobs,
      cells,
      bindingDeadline: new Float64Array(progress, Progress.DEADLINE_BYTE, 1),
      abort: new AbortController(),
      stopped: false,
    };
    g.inFlight.add(batch);
    g.piscina
      .run({ type: 'batch', bytes, items, progress }, { transferList: [bytes], signal: batch.abort.signal })
      .then(
        (a) => this.onAnswer(batch, a),
        (e: unknown) => this.onFailure(batch, e),
      );
  }

  private onAnswer(b: Batch, a: FromThread): void {
    switch (a.type) {
      case 'batch-done':
        b.jobs.forEach((j, i) => {
          const r = a.replies[i];
          this.answer(j, r ?? errorReply(new Error('pool thread returned fewer replies than requests')));
        });
        break;
      case 'ready':
      case 'load-failed':
        for (const j of b.jobs)
          this.answer(j, errorReply(new Error(`pool thread answered a batch with ${a.type}`)));
        break;
      default:
        unexpected(a);
    }
    this.settled(b);
  }

  private onFailure(b: Batch, e: unknown): void {
    if (!b.stopped) {
      // The thread died under the batch: piscina has already removed it and started a replacement.
      b.stopped = true;
      const heap = (e as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.restarted(heap ? 'heap' : 'crash');
      this.stopBatch(
        b,
        'TOLLGATE_ERR_POLICY_CRASHED',
        heap
          ? 'the policy exhausted its thread heap (resourceLimits); the thread was replaced'
          : `the evaluation thread died (${describeError(e)}); it was replaced`,
      );
    }
    this.settled(b);
  }

  private settled(b: Batch): void {
    b.group.settle(b);
    if (b.group === this.group && this.queue.length > 0) this.flush();
  }

  /** Answer the item the thread was stuck in by failure policy; requeue the batch's unanswered others. */
  private stopBatch(b: Batch, code: ErrorCode, message: string): void {
    const i = Atomics.load(b.cells, Progress.ITEM);
    const stuck = i >= 0 ? b.jobs[i] : undefined;
    if (stuck !== undefined && !stuck.done) {
      const binding = this.bindingOf(b);
      this.answer(
        stuck,
        failureReply(stuck.body, binding, code, message, Atomics.load(b.cells, Progress.DENIED) === 1),
      );
    }
    const again = b.jobs.filter((j) => !j.done);
    for (const j of again) {
      if (j.attempts >= MAX_ATTEMPTS)
        this.answer(j, unavailable('evaluation threads kept failing for this request'));
    }
    this.queue.unshift(...again.filter((j) => !j.done));
    this.schedule();
  }

  private bindingOf(b: Batch): BindingSummary | undefined {
    const k = Atomics.load(b.cells, Progress.BINDING);
    return k >= 0 ? b.group.bindings[k] : undefined;
  }

  /** Stop a thread stuck past a deadline: answer now, then let piscina terminate and replace it. */
  private kill(b: Batch, message: string): void {
    b.stopped = true;
    this.restarted('timeout');
    this.stopBatch(b, 'TOLLGATE_ERR_POLICY_TIMEOUT', message);
    b.abort.abort();
  }

  private readonly tick = (): void => {
    const t = now();
    if (this.queue.some((j) => t > j.deadline)) {
      this.queue = this.queue.filter((j) => {
        if (t <= j.deadline) return true;
        this.answer(j, unavailable('no evaluation thread became free before the request deadline'));
        return false;
      });
    }
    for (const g of [this.group, ...this.draining]) {
      for (const b of g.inFlight) {
        if (b.stopped) continue;
        const i = Atomics.load(b.cells, Progress.ITEM);
        for (let k = Math.max(i + 1, 0); k < b.jobs.length; k++) {
          const j = b.jobs[k]!;
          if (!j.done && t > j.deadline)
            this.answer(j, unavailable('evaluation did not start before the request deadline'));
        }
        if (i < 0) continue;
        const inBinding = Atomics.load(b.cells, Progress.IN_BINDING) === 1;
        if (inBinding && t > b.bindingDeadline[0]!) {
          const binding = this.bindingOf(b);
          const ms = binding?.timeoutMs;
          this.kill(
            b,
            `did not finish within ${ms !== undefined ? `${ms} ms` : 'its deadline'}; its thread was stopped and replaced`,
          );
        } else if (t > b.jobs[i]!.deadline) {
          this.kill(b, "did not finish before the request's deadline; its thread was stopped and replaced");
        }
      }
    }
    if (++this.ticks % Math.max(1, Math.round(1000 / this.o.watchdogMs)) === 0) {
      poolQueueDepth.set(this.queue.length);
      poolUtilization.set(this.group.piscina.utilization);
    }
  };
}
