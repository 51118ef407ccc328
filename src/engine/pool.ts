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
 * Options: threads (default 1), maxQueue (1024), timeoutMs (9000, when a request names none),
 * resourceLimits ({maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 16}), maxBatch (64),
 * loadTimeoutMs (30 s), watchdogMs (10). Metrics: pool_queue_depth, pool_utilization_ratio (lane busy
 * time per second), pool_thread_restarts_total{reason=timeout|heap|crash}, pool_rejected_total.
 *
 * Files: this one schedules (queue, batches, deadlines, reload); pool-lanes.ts runs the threads and their
 * lanes; thread.ts is the task module; failure-reply.ts builds the answers given without a thread;
 * src/ipc/thread-messages.ts types every message.
 *
 * How a request travels (the hop is the main cost, so it is paid per batch, not per request):
 * - piscina owns the threads: creation, heap limits, termination and replacement. Each thread runs one
 *   long piscina task, `serve`, holding a MessagePort (its lane). Batches travel on the lanes, not as
 *   piscina tasks: piscina's per-task bookkeeping measured several times a plain port round trip (see
 *   bench/pool-hop.bench.ts and the figures in its results).
 * - Requests queue here (bounded by `maxQueue`; beyond it they are answered at once with 503
 *   TOLLGATE_ERR_POOL_OVERLOADED, no Retry-After: the API server applies the webhook's failurePolicy).
 * - Whenever a lane is free (on `setImmediate` after arrivals, and at once when a batch completes),
 *   everything queued is split over the free lanes, one batch each: one ArrayBuffer, transferred, with a
 *   Float64 header per request (offset, length, endpoint, deadline) and the bodies. Under load, batches
 *   grow by themselves while threads are busy.
 * - The thread decodes each body once, evaluates (handleRequest, in order) and answers the batch with
 *   flat arrays: statuses (an Int32Array, transferred) and bodies (strings), and a note (decision, error)
 *   only for the requests that carry one. The structured clone of an object per request and of its
 *   Decision cost about as much as the evaluation; with `decisions: 'notable'` only denials and failures
 *   carry their decision (without `patched` and `response.patch`: the body has them). With
 *   `threadMetrics`, the threads count tollgate_requests_total and the policy metrics themselves and send
 *   deltas (MetricsDelta): with a batch answer at most every 250 ms, on their own 250 ms after the last
 *   batch, and when flushMetrics() asks (before a scrape). Counts are never sent twice (a delta resets
 *   the thread's tally); a thread that is killed loses what it counted since its last delta.
 *
 * Deadlines. A request's deadline is `timeoutMs` (the request's, else the option) from arrival. Each lane
 * has a SharedArrayBuffer progress slot where the thread publishes the item and binding it runs and that
 * binding's deadline (its timeoutMs, bounded by the request's). A watchdog (every `watchdogMs`) reads the
 * slots: a binding past its deadline, or an item past the request's, means the thread is stuck (a
 * synchronous loop can't be interrupted from inside). The watchdog then answers the stuck request by the
 * binding's failure policy (403 TOLLGATE_ERR_POLICY_TIMEOUT naming the binding, or allowed with a warning
 * under failurePolicy allow unless an earlier binding of the same request had denied), aborts the lane's
 * serve task (piscina terminates that thread and starts a replacement, which gets a new lane), and
 * requeues the batch's other requests, which are pure and are evaluated again elsewhere. A thread that
 * dies of its heap limit (ERR_WORKER_OUT_OF_MEMORY) or crashes is handled the same way with
 * TOLLGATE_ERR_POLICY_CRASHED. Queued requests that reach their deadline before a lane takes them get a
 * 503. A policy that loops after an `await` is not inside a binding call any more: the request deadline
 * stops it, and the binding it entered last is named.
 *
 * Limits: piscina stops replacing threads for good once a new thread fails before it is ready (its
 * `workerFailsDuringBootstrap` latch); and the group stops opening lanes after 3 replacement threads in a
 * row failed to build the set. Both need a set that builds once and then not (a policy whose module code
 * depends on chance); requests then get 503s at their deadlines.
 *
 * An open engine keeps the process alive (its serve tasks are in flight): close() it.
 *
 * Reload builds a second piscina pool from the new source and waits until every one of its threads has
 * built the set (a broken set rejects and the new pool is destroyed); then one assignment switches new
 * batches to it (a request is evaluated entirely by one set), and the old pool drains and is destroyed.
 */
import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { describeError, type ErrorCode, TollgateError } from '../errors.js';
import {
  BATCH_FIELDS,
  BatchField,
  type BindingSummary,
  batchHeadBytes,
  type DecisionDetail,
  ENDPOINTS,
  now,
  Progress,
  type ReplyNote,
  readAnswers,
} from '../ipc/thread-messages.js';
import {
  countEvaluation,
  poolQueueDepth,
  poolRejected,
  poolUtilization,
  recordThreadMetrics,
  threadRestarts,
} from '../metrics/index.js';
import type { LoadOptions } from './engine.js';
import { failureReply, unavailable } from './failure-reply.js';
import { type GroupEvents, type Job, type Lane, ThreadGroup } from './pool-lanes.js';
import { type Engine, type EngineReply, type EngineRequest, errorReply } from './reply.js';
import type { Decision, PolicySetSource } from './types.js';

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
  /**
   * Which replies carry their Decision (default `all`); `notable`: denials and failures only, the rest
   * status and body (what a server that logs allowed requests only at debug needs).
   */
  readonly decisions?: DecisionDetail;
  /**
   * Count tollgate_requests_total and the policy metrics of every reply in the pool (default false): on
   * the threads, sent as deltas at most every 250 ms and on flushMetrics(); replies the pool makes itself
   * (failure policy, 503s) are counted here. The caller then records only the request duration. Counts
   * of a thread that is killed (watchdog, heap, crash) since its last delta are lost.
   */
  readonly threadMetrics?: boolean;
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

/**
 * Did the stuck item have a denial before the binding it is stopped in: one that denied, or one whose
 * async result is still pending other than that binding (it might deny: fail closed).
 */
function deniedBefore(cells: Int32Array): boolean {
  if (Atomics.load(cells, Progress.DENIED) === 1) return true;
  const pending = Atomics.load(cells, Progress.PENDING);
  if (pending > 1) return true;
  return (
    pending === 1 && Atomics.load(cells, Progress.PENDING_BINDING) !== Atomics.load(cells, Progress.BINDING)
  );
}

const decoder = new TextDecoder();

/**
 * A reply whose body is bytes of the thread's answer buffer: the server sends `bytes` as they are; `body`
 * (tests, tools) is decoded on first use.
 */
class PooledReply implements EngineReply {
  private text: string | undefined;
  decision?: Decision;
  error?: { readonly code: string; readonly message: string };
  constructor(
    readonly status: number,
    readonly bytes: Uint8Array,
  ) {}
  get body(): string {
    this.text ??= decoder.decode(this.bytes);
    return this.text;
  }
}

/** Replies by item index, from the answer buffer a thread sends (see encodeAnswers). */
function replyAt(
  statuses: Int32Array,
  bodies: readonly Uint8Array[],
  i: number,
  note: ReplyNote | undefined,
): EngineReply {
  const reply = new PooledReply(statuses[i]!, bodies[i]!);
  if (note?.decision !== undefined) reply.decision = note.decision;
  if (note?.error !== undefined) reply.error = note.error;
  return reply;
}

/** A young generation of 16 MB (not 32) kept a 2-worker server about 40 MB smaller under load, same speed. */
export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = {
  maxOldGenerationSizeMb: 256,
  maxYoungGenerationSizeMb: 16,
};
/** A request is evaluated at most this many times (it is retried only when another one killed its thread). */
const MAX_ATTEMPTS = 3;

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
    decisions: o.decisions ?? 'all',
    threadMetrics: o.threadMetrics ?? false,
  };
}

function isSource(v: LoadOptions | PolicySetSource): v is PolicySetSource {
  return Array.isArray((v as PolicySetSource).policies) && Array.isArray((v as PolicySetSource).bindings);
}

const OVERLOADED = unavailable('evaluation queue is full');

export class PoolEngine implements Engine {
  private queue: Job[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly draining = new Set<ThreadGroup>();
  private reloading: Promise<void> = Promise.resolve();
  private readonly watchdog: NodeJS.Timeout;
  private ticks = 0;
  private rejected = 0;
  private utilization = 0;
  private window = { t: now(), busy: 0 };
  private readonly restarts: Record<RestartReason, number> = { timeout: 0, heap: 0, crash: 0 };
  /** What the thread groups report, for the first one too (started before the engine exists). */
  private static events(engine: () => PoolEngine | undefined): GroupEvents {
    return {
      ready: () => engine()?.schedule(),
      answer: (lane, jobs, bytes, notes) => engine()?.onAnswer(lane, jobs, bytes, notes),
      died: (lane, e) => engine()?.onDied(lane, e),
      metrics: (delta) => recordThreadMetrics(delta),
    };
  }

  private readonly events = PoolEngine.events(() => this);

  private constructor(
    private group: ThreadGroup,
    private readonly o: Resolved,
  ) {
    this.watchdog = setInterval(this.tick, o.watchdogMs).unref();
  }

  /** Load (compile, read) on this thread, then build the set on the pool threads. */
  static async create(from: LoadOptions | PolicySetSource, options: PoolOptions = {}): Promise<PoolEngine> {
    const o = resolveOptions(options);
    // Compiling sources is for tests and tools: a worker gets its set ready-made from the primary and
    // never loads the compiler.
    const source = isSource(from) ? from : await (await import('./engine.js')).loadSource(from);
    let engine: PoolEngine | undefined;
    const group = await ThreadGroup.start(
      source,
      o,
      PoolEngine.events(() => engine),
    );
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

  /** Replace the policy set; resolves once the old threads are drained and gone. */
  reload(source: PolicySetSource): Promise<void> {
    const run = this.reloading.then(() => this.swap(source));
    this.reloading = run.catch(() => {});
    return run;
  }

  stats(): PoolStats {
    let inFlight = 0;
    for (const g of [this.group, ...this.draining])
      for (const l of g.lanes) inFlight += l.ended ? 0 : (l.batch?.length ?? 0);
    return {
      queueDepth: this.queue.length,
      inFlight,
      utilization: this.utilization,
      threads: this.group.lanes.size,
      idleThreads: this.group.free().length,
      restarts: { ...this.restarts },
      rejected: this.rejected,
    };
  }

  /**
   * With `threadMetrics`: have every thread send the counts it holds (before a scrape). Resolves once all
   * answered, or after `timeoutMs` (a thread stuck in a policy cannot answer).
   */
  async flushMetrics(timeoutMs = 200): Promise<void> {
    if (!this.o.threadMetrics || this.closed) return;
    await Promise.all([this.group, ...this.draining].map((g) => g.flushMetrics(timeoutMs)));
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
    if (this.o.threadMetrics) await Promise.all(groups.map((g) => g.flushMetrics(200)));
    await Promise.all(groups.map((g) => g.destroy()));
  }

  /** Flush after the current event-loop turn, so requests arriving together travel together. */
  private schedule(): void {
    if (!this.flushScheduled && this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private async swap(source: PolicySetSource): Promise<void> {
    if (this.closed) throw new TollgateError('TOLLGATE_ERR_INTERNAL', 'reload after close');
    const next = await ThreadGroup.start(source, this.o, this.events);
    if (this.closed) {
      await next.destroy();
      throw new TollgateError('TOLLGATE_ERR_INTERNAL', 'engine closed during reload');
    }
    const old = this.group;
    this.group = next;
    this.window = { t: now(), busy: 0 };
    this.draining.add(old);
    this.flush();
    await old.whenIdle();
    // The counts its threads hold would die with them.
    if (this.o.threadMetrics) await old.flushMetrics(200);
    this.draining.delete(old);
    await old.destroy();
  }

  /** Resolve a job once; replies made here (not on a thread) are counted here under `threadMetrics`. */
  private answer(j: Job, r: EngineReply, counted = false): void {
    if (j.done) return;
    j.done = true;
    if (this.o.threadMetrics && !counted) countEvaluation(j.endpoint, r.status, r.decision);
    j.resolve(r);
  }

  private restarted(reason: RestartReason): void {
    this.restarts[reason]++;
    threadRestarts.inc({ reason });
  }

  /** Hand everything queued to the free threads of the active pool, one batch per free thread. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const free = this.group.free();
    for (let k = 0; k < free.length && this.queue.length > 0; k++) {
      const n = Math.min(this.o.maxBatch, Math.ceil(this.queue.length / (free.length - k)));
      this.dispatch(free[k]!, this.queue.splice(0, n));
    }
    poolQueueDepth.set(this.queue.length);
  };

  private dispatch(lane: Lane, jobs: Job[]): void {
    const headBytes = batchHeadBytes(jobs.length);
    let total = headBytes;
    for (const j of jobs) total += j.body.byteLength;
    const bytes = new ArrayBuffer(total);
    const view = new Uint8Array(bytes);
    new Float64Array(bytes, 0, 1)[0] = jobs.length;
    const head = new Float64Array(bytes, 8, jobs.length * BATCH_FIELDS);
    let offset = headBytes;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i]!;
      const h = i * BATCH_FIELDS;
      view.set(j.body, offset);
      head[h + BatchField.OFFSET] = offset;
      head[h + BatchField.LENGTH] = j.body.byteLength;
      head[h + BatchField.ENDPOINT] = ENDPOINTS.indexOf(j.endpoint);
      head[h + BatchField.DEADLINE] = j.deadline;
      offset += j.body.byteLength;
      j.attempts++;
    }
    lane.group.send(lane, jobs, bytes);
  }

  private onAnswer(lane: Lane, jobs: readonly Job[], bytes: ArrayBuffer, notes: readonly ReplyNote[]): void {
    const { statuses, bodies } = readAnswers(bytes);
    let k = 0;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i]!;
      if (i >= statuses.length) {
        this.answer(j, errorReply(new Error('pool thread returned fewer replies than requests')));
        continue;
      }
      const note = notes[k]?.item === i ? notes[k++] : undefined;
      this.answer(j, replyAt(statuses, bodies, i, note), true);
    }
    if (lane.group === this.group && this.queue.length > 0) this.flush();
  }

  /** A thread died under a batch (heap limit or crash); piscina has started a replacement. */
  private onDied(lane: Lane, e: unknown): void {
    const heap = (e as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    this.restarted(heap ? 'heap' : 'crash');
    if (lane.batch === undefined) return;
    this.stopBatch(
      lane,
      lane.batch,
      'TOLLGATE_ERR_POLICY_CRASHED',
      heap
        ? 'the policy exhausted its thread heap (resourceLimits); the thread was replaced'
        : `the evaluation thread died (${describeError(e)}); it was replaced`,
    );
  }

  /** Answer the item the thread was stuck in by failure policy; requeue the batch's unanswered others. */
  private stopBatch(lane: Lane, jobs: readonly Job[], code: ErrorCode, message: string): void {
    const i = Atomics.load(lane.cells, Progress.ITEM);
    const stuck = i >= 0 ? jobs[i] : undefined;
    if (stuck !== undefined && !stuck.done) {
      const binding = this.bindingOf(lane);
      this.answer(stuck, failureReply(stuck.body, binding, code, message, deniedBefore(lane.cells)));
    }
    const again = jobs.filter((j) => !j.done);
    for (const j of again) {
      if (j.attempts >= MAX_ATTEMPTS)
        this.answer(j, unavailable('evaluation threads kept failing for this request'));
    }
    this.queue.unshift(...again.filter((j) => !j.done));
    this.schedule();
  }

  private bindingOf(lane: Lane): BindingSummary | undefined {
    const k = Atomics.load(lane.cells, Progress.BINDING);
    return k >= 0 ? lane.group.bindings[k] : undefined;
  }

  /** Stop a thread stuck past a deadline: answer now, then let piscina terminate and replace it. */
  private kill(lane: Lane, jobs: readonly Job[], message: string): void {
    this.restarted('timeout');
    this.stopBatch(lane, jobs, 'TOLLGATE_ERR_POLICY_TIMEOUT', message);
    lane.group.kill(lane);
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
      for (const lane of g.lanes) {
        const jobs = lane.batch;
        if (jobs === undefined || lane.ended) continue;
        const i = Atomics.load(lane.cells, Progress.ITEM);
        for (let k = Math.max(i + 1, 0); k < jobs.length; k++) {
          const j = jobs[k]!;
          if (!j.done && t > j.deadline)
            this.answer(j, unavailable('evaluation did not start before the request deadline'));
        }
        if (i < 0) continue;
        const inBinding = Atomics.load(lane.cells, Progress.IN_BINDING) === 1;
        if (inBinding && t > lane.bindingDeadline[0]!) {
          const ms = this.bindingOf(lane)?.timeoutMs;
          this.kill(
            lane,
            jobs,
            `did not finish within ${ms !== undefined ? `${ms} ms` : 'its deadline'}; its thread was stopped and replaced`,
          );
        } else if (t > jobs[i]!.deadline) {
          this.kill(
            lane,
            jobs,
            "did not finish before the request's deadline; its thread was stopped and replaced",
          );
        }
      }
    }
    if (++this.ticks % Math.max(1, Math.round(1000 / this.o.watchdogMs)) === 0) {
      const busy = this.group.busyTime(t);
      const span = (t - this.window.t) * Math.max(1, this.o.threads);
      this.utilization = span > 0 ? Math.min(1, Math.max(0, (busy - this.window.busy) / span)) : 0;
      this.window = { t, busy };
      poolQueueDepth.set(this.queue.length);
      poolUtilization.set(this.utilization);
    }
  };
}
