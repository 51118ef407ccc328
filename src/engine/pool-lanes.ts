/**
 * The pool's threads: one piscina pool per policy set, one lane per thread (its serve task, the MessagePort
 * batches travel on, and its progress slot). PoolEngine (pool.ts) decides what goes where and when; this
 * module starts threads, sends batches, and reports answers, deaths and readiness.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { describeError, TollgateError } from '../errors.js';
import {
  type BatchAnswer,
  type BatchTask,
  type BindingSummary,
  type DecisionDetail,
  type FromLane,
  type FromThread,
  type LoadFailedAnswer,
  type MetricsDelta,
  now,
  Progress,
  type ReplyNote,
  type ServeTask,
  type ThreadInit,
  type ToLane,
  unexpected,
} from '../ipc/thread-messages.js';
import type { Endpoint, EngineReply } from './reply.js';
import type { PolicySetSource } from './types.js';

/** What a thread group needs of the pool's options. */
export interface GroupOptions {
  readonly threads: number;
  readonly resourceLimits: ResourceLimits;
  readonly loadTimeoutMs: number;
  readonly decisions: DecisionDetail;
  /** Threads count metrics and send deltas (GroupEvents.metrics). */
  readonly threadMetrics: boolean;
}

/** One request waiting for, or being evaluated by, a thread. */
export interface Job {
  readonly body: Uint8Array;
  readonly endpoint: Endpoint;
  readonly deadline: number;
  readonly resolve: (r: EngineReply) => void;
  attempts: number;
  done: boolean;
}

/** The notes of an answer that came as the bare buffer (no item carries one). */
const NO_NOTES: readonly ReplyNote[] = [];

/**
 * One thread's lane: its serve task (piscina) and the port batches travel on, one batch at a time, and
 * the thread's progress slot.
 */
export interface Lane {
  readonly group: ThreadGroup;
  readonly port: MessagePort;
  readonly abort: AbortController;
  readonly cells: Int32Array;
  readonly bindingDeadline: Float64Array;
  /** The thread has built its set. */
  ready: boolean;
  /** The batch on the thread, if any. */
  batch: readonly Job[] | undefined;
  batchStart: number;
  /** Torn down (killed, died, closed): whatever the thread still says is ignored. */
  ended: boolean;
  /** Waiting for the thread's answer to a flush request. */
  flushed: (() => void)[];
}

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

/**
 * Node flags for the threads. Built code passes none, so a thread inherits the process's own: Node checks
 * flags given explicitly and refuses V8 options there (--max/min-semi-space-size, --trace-gc …), while
 * inherited ones are fine (heap sizes then come from resourceLimits). From sources, the process runs under
 * `--import tsx`, which costs each thread (re)start its own tsx setup for a task module that is plain JS
 * already: the loader flags are left out, and with them the V8 options Node would refuse.
 */
function threadExecArgv(): string[] | undefined {
  if (!import.meta.url.endsWith('.ts')) return undefined;
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (
      a === '--import' ||
      a === '--require' ||
      a === '-r' ||
      a === '--loader' ||
      a === '--experimental-loader'
    )
      i++;
    else if (/^--(import|require|loader|experimental-loader)=/.test(a)) continue;
    else if (/^--((max|min)[-_](semi|old)[-_]space[-_]size|trace[-_]gc)/.test(a)) {
      if (/^--m(ax|in)/.test(a) && !a.includes('=')) i++;
    } else out.push(a);
  }
  return out;
}

export interface GroupEvents {
  /** A lane's thread has built the set: queued requests may go. */
  readonly ready: () => void;
  /** A batch came back. */
  /** A batch's answers: encodeAnswers' buffer, and the notes of the items that carry one. */
  readonly answer: (
    lane: Lane,
    jobs: readonly Job[],
    bytes: ArrayBuffer,
    notes: readonly ReplyNote[],
  ) => void;
  /** A lane's thread died under it, not by our hand (heap limit or crash); piscina replaces the thread. */
  readonly died: (lane: Lane, error: unknown) => void;
  /** Metric counts from a thread (only with `threadMetrics`). */
  readonly metrics: (delta: MetricsDelta) => void;
}

function isLoadFailed(v: unknown): v is LoadFailedAnswer {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'load-failed';
}

/** Replacement threads that fail to build the set in a row before the group stops replacing them. */
const MAX_REPLACE_FAILURES = 3;

/** One piscina pool serving one policy set: one lane per thread. */
export class ThreadGroup {
  readonly lanes = new Set<Lane>();
  bindings: readonly BindingSummary[] = [];
  /** Time threads spent on batches (ms), finished batches only. */
  private busyMs = 0;
  private closing = false;
  private replaceFailures = 0;
  private idle: (() => void)[] = [];
  private starting: { pending: number; resolve: () => void; reject: (e: unknown) => void } | undefined;

  private constructor(
    readonly piscina: Piscina<ServeTask, FromThread>,
    private readonly events: GroupEvents,
  ) {}

  /** Start the threads and wait until every one has built the set; a broken set rejects. */
  static async start(source: PolicySetSource, o: GroupOptions, events: GroupEvents): Promise<ThreadGroup> {
    const execArgv = threadExecArgv();
    const piscina = new Piscina<ServeTask, FromThread>({
      filename: await taskModule(),
      ...(execArgv !== undefined ? { execArgv } : {}),
      minThreads: o.threads,
      maxThreads: o.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      resourceLimits: o.resourceLimits,
      workerData: {
        source,
        decisions: o.decisions,
        metrics: o.threadMetrics,
      } satisfies ThreadInit,
      // Serve tasks never finish: piscina's run-time histogram says nothing; the lanes keep time instead.
      recordTiming: false,
    });
    // Every thread runs a serve task, so a dying thread fails that task; an 'error' with no task left
    // (a thread dying between tasks) has nothing to answer, and piscina replaces the thread.
    piscina.on('error', () => {});
    const g = new ThreadGroup(piscina, events);
    let timer: NodeJS.Timeout | undefined;
    try {
      const started = new Promise<void>((resolve, reject) => {
        g.starting = { pending: o.threads, resolve, reject };
        timer = setTimeout(() => {
          reject(
            new TollgateError(
              'TOLLGATE_ERR_POLICY_TIMEOUT',
              `pool threads did not load the policy set within ${o.loadTimeoutMs} ms (does a policy loop at module level?)`,
            ),
          );
        }, o.loadTimeoutMs);
      });
      for (let i = 0; i < o.threads; i++) g.open();
      await started;
      return g;
    } catch (e) {
      g.starting = undefined;
      await g.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private open(): void {
    const { port1, port2 } = new MessageChannel();
    const progress = new SharedArrayBuffer(Progress.BYTES);
    const cells = new Int32Array(progress, 0, Progress.INT32_CELLS);
    cells[Progress.ITEM] = -1;
    cells[Progress.BINDING] = -1;
    const lane: Lane = {
      group: this,
      port: port1,
      abort: new AbortController(),
      cells,
      bindingDeadline: new Float64Array(progress, Progress.DEADLINE_BYTE, 1),
      ready: false,
      batch: undefined,
      batchStart: 0,
      ended: false,
      flushed: [],
    };
    this.lanes.add(lane);
    port1.on('message', (m: FromLane) => this.onMessage(lane, m));
    // Goes to the thread without a serve task: a new one, or the replacement piscina starts for a dead one.
    this.piscina
      .run({ type: 'serve', port: port2, progress }, { transferList: [port2], signal: lane.abort.signal })
      .then(
        (end) => this.onEnd(lane, end),
        (e: unknown) => this.onEnd(lane, e),
      );
  }

  private onMessage(lane: Lane, m: FromLane): void {
    if (m instanceof ArrayBuffer) {
      this.batchDone(lane, m);
      return;
    }
    switch (m.type) {
      case 'ready':
        if (lane.ended) return;
        this.bindings = m.bindings;
        lane.ready = true;
        this.replaceFailures = 0;
        if (this.starting !== undefined) {
          if (--this.starting.pending === 0) {
            this.starting.resolve();
            this.starting = undefined;
          }
        } else this.events.ready();
        break;
      case 'batch-done':
        this.batchDone(lane, m);
        break;
      case 'metrics':
        this.events.metrics(m.metrics);
        for (const done of lane.flushed.splice(0)) done();
        break;
      default:
        unexpected(m);
    }
  }

  private batchDone(lane: Lane, m: BatchAnswer): void {
    const jobs = lane.batch;
    if (lane.ended || jobs === undefined) return;
    lane.batch = undefined;
    this.busyMs += now() - lane.batchStart;
    // Counts of a batch whose answers are ignored (above) are dropped with them: those requests were
    // answered, and counted, by the watchdog or another thread.
    if (m instanceof ArrayBuffer) {
      this.events.answer(lane, jobs, m, NO_NOTES);
    } else {
      if (m.metrics !== undefined) this.events.metrics(m.metrics);
      this.events.answer(lane, jobs, m.bytes, m.notes);
    }
    this.checkIdle();
  }

  /** The serve task ended: stopped by us, killed by the watchdog (aborted), or the thread died. */
  private onEnd(lane: Lane, end: unknown): void {
    const byUs = lane.ended;
    lane.ended = true;
    this.lanes.delete(lane);
    lane.port.close();
    for (const done of lane.flushed.splice(0)) done();
    const failed = isLoadFailed(end) ? end : undefined;
    if (this.starting !== undefined) {
      this.starting.reject(
        failed !== undefined
          ? new TollgateError(failed.error.code, failed.error.message)
          : new TollgateError(
              'TOLLGATE_ERR_POLICY_CRASHED',
              `a pool thread died while loading the policy set: ${describeError(end)}`,
            ),
      );
      return;
    }
    if (this.closing) {
      this.checkIdle();
      return;
    }
    if (!byUs) {
      if (failed !== undefined || !lane.ready) this.replaceFailures++;
      this.events.died(lane, end);
    }
    lane.batch = undefined;
    if (this.replaceFailures < MAX_REPLACE_FAILURES) this.open();
    this.checkIdle();
  }

  /** Free lanes: ready, no batch. */
  free(): Lane[] {
    const out: Lane[] = [];
    for (const l of this.lanes) if (l.ready && !l.ended && l.batch === undefined) out.push(l);
    return out;
  }

  send(lane: Lane, jobs: readonly Job[], task: BatchTask): void {
    lane.batch = jobs;
    lane.batchStart = now();
    Atomics.store(lane.cells, Progress.ITEM, -1);
    lane.port.postMessage(task satisfies ToLane, [task]);
  }

  /** Stop a stuck thread: piscina terminates it when its serve task is aborted, and starts another. */
  kill(lane: Lane): void {
    lane.ended = true;
    lane.batch = undefined;
    lane.abort.abort();
  }

  /**
   * Ask every thread for the metric counts it has not sent yet; resolves when all answered, or after
   * `timeoutMs` (a thread stuck in a policy answers only once the watchdog replaced it).
   */
  flushMetrics(timeoutMs: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const lane of this.lanes) {
      if (!lane.ready || lane.ended) continue;
      waits.push(new Promise((resolve) => lane.flushed.push(resolve)));
      lane.port.postMessage({ type: 'flush' } satisfies ToLane);
    }
    if (waits.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    return Promise.race([Promise.all(waits).then(() => {}), late]).finally(() => clearTimeout(timer));
  }

  /** Thread time spent on batches so far, including the batches in progress. */
  busyTime(t: number): number {
    let busy = this.busyMs;
    for (const l of this.lanes) if (l.batch !== undefined && !l.ended) busy += t - l.batchStart;
    return busy;
  }

  private checkIdle(): void {
    for (const l of this.lanes) if (l.batch !== undefined && !l.ended) return;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Resolves when no batch is on a thread. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idle.push(resolve);
      this.checkIdle();
    });
  }

  async destroy(): Promise<void> {
    this.closing = true;
    await this.piscina.destroy();
  }
}
