/**
 * Messages between a server worker (the pool's owner, src/engine/pool.ts) and its piscina threads
 * (src/engine/thread.ts). Every task and every answer is one of these unions, handled with an exhaustive
 * `switch`. Outcomes cross as values: a thread never throws across the boundary (a custom error arrives
 * without its code), it answers `load-failed` or a reply carrying an error code.
 *
 * Each thread runs one long piscina task (`serve`) that owns a MessagePort, its lane: batches travel on
 * the lane, not as piscina tasks, because piscina's per-task bookkeeping costs several times a plain
 * port round trip (bench/pool-hop.bench.ts). The serve task also hands the thread a small
 * SharedArrayBuffer, the progress slot, which the thread writes while it works and the owner's watchdog
 * reads while the thread may be stuck in a synchronous loop (when no message can come back). Its layout
 * is fixed here so both sides agree.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from '../engine/reply.js';
import type { Decision, EnforcementAction, FailurePolicy, PolicySetSource } from '../engine/types.js';
import type { ErrorCode } from '../errors.js';

/**
 * What the owner wants back per request. `all`: every reply carries its Decision (slim, as below).
 * `notable`: only denials and failed evaluations do (the server logs those at info; allowed requests are
 * logged at debug only, so the server asks for `all` at that level).
 */
export type DecisionDetail = 'all' | 'notable';

/** What a thread is started with (piscina `workerData`): the plain policy set source it builds itself. */
export interface ThreadInit {
  readonly source: PolicySetSource;
  readonly decisions: DecisionDetail;
  /** Count request and policy metrics here and send them as deltas (MetricsDelta) to the owner. */
  readonly metrics: boolean;
}

/**
 * A batch crosses as one transferred ArrayBuffer, posted bare (no object around it: wrapping the buffer
 * in a message object cost ~5 µs a hop to serialize and read back, on one core): a Float64 header, the
 * item count in cell 0 and then BATCH_FIELDS cells per item, then the bodies. Item i's cells start at
 * `1 + i * BATCH_FIELDS`: byte offset and length of its body in the buffer, endpoint (ENDPOINTS index),
 * absolute deadline in ms on the shared clock (`now()` below). No object per request crosses.
 */
export const BatchField = { OFFSET: 0, LENGTH: 1, ENDPOINT: 2, DEADLINE: 3 } as const;
export const BATCH_FIELDS = 4;

/** Bytes of a batch's Float64 header for `count` items (the bodies start here). */
export function batchHeadBytes(count: number): number {
  return (1 + count * BATCH_FIELDS) * 8;
}

/**
 * The answers to a batch, one per item in order, in one transferred ArrayBuffer: an Int32 header (count,
 * then each item's HTTP status, then each item's body length in bytes), padded to 8 bytes, then the
 * bodies as UTF-8, back to back. The owner hands each body to uWS as a view of this buffer: no string
 * crosses the port and none is built on the event-loop thread (the structured clone of an object per
 * request, and of its Decision, once cost as much as the evaluation).
 */
export function encodeAnswers(statuses: Int32Array, bodies: readonly string[]): ArrayBuffer {
  const n = statuses.length;
  const head = answerHeadBytes(n);
  let total = head;
  for (let i = 0; i < n; i++) total += Buffer.byteLength(bodies[i]!, 'utf8');
  const bytes = new ArrayBuffer(total);
  const ints = new Int32Array(bytes, 0, 1 + 2 * n);
  ints[0] = n;
  ints.set(statuses, 1);
  const out = Buffer.from(bytes);
  let offset = head;
  for (let i = 0; i < n; i++) {
    // The buffer was sized for exactly these bodies: each write is its body's whole length.
    const length = out.write(bodies[i]!, offset, 'utf8');
    ints[1 + n + i] = length;
    offset += length;
  }
  return bytes;
}

/** Item i's status and body (a view into `bytes`), from encodeAnswers' layout. */
export function readAnswers(bytes: ArrayBuffer): { statuses: Int32Array; bodies: Uint8Array[] } {
  const n = new Int32Array(bytes, 0, 1)[0]!;
  const statuses = new Int32Array(bytes, 4, n);
  const lengths = new Int32Array(bytes, 4 + 4 * n, n);
  const bodies = new Array<Uint8Array>(n);
  let offset = answerHeadBytes(n);
  for (let i = 0; i < n; i++) {
    bodies[i] = new Uint8Array(bytes, offset, lengths[i]!);
    offset += lengths[i]!;
  }
  return { statuses, bodies };
}

function answerHeadBytes(count: number): number {
  return Math.ceil(((1 + 2 * count) * 4) / 8) * 8;
}
export const ENDPOINTS: readonly Endpoint[] = ['validate', 'mutate'];

/**
 * The one piscina task a thread runs for its whole life: serve batches arriving on `port` (a lane), and
 * publish progress in `progress`. It ends with `load-failed` at once if the set did not build, `stopped`
 * when the lane closes; aborting it is how a stuck thread is terminated (piscina then replaces it).
 */
export interface ServeTask {
  readonly type: 'serve';
  readonly port: MessagePort;
  readonly progress: SharedArrayBuffer;
}

export type ToThread = ServeTask;

export interface StoppedAnswer {
  readonly type: 'stopped';
}

export interface LoadFailedAnswer {
  readonly type: 'load-failed';
  readonly threadId: number;
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** How a serve task ends. */
export type FromThread = StoppedAnswer | LoadFailedAnswer;

/**
 * Evaluate requests in order: the batch buffer itself (see BatchField), transferred (the owner keeps its
 * own copy of each body).
 */
export type BatchTask = ArrayBuffer;

/** Send the metric counts not sent yet now (the owner is about to be scraped). */
export interface FlushTask {
  readonly type: 'flush';
}

/** Owner → thread, on the lane's port. */
export type ToLane = BatchTask | FlushTask;

/** What the owner needs to answer for a binding the thread was stopped in (failure policy and all). */
export interface BindingSummary {
  readonly name: string;
  readonly policy: string;
  readonly action: EnforcementAction;
  readonly failurePolicy: FailurePolicy;
  /** The binding's own evaluation timeout (binding, else policy, else the default), in ms. */
  readonly timeoutMs: number;
}

/** First message on a lane: the set is built. */
export interface ReadyAnswer {
  readonly type: 'ready';
  readonly threadId: number;
  /** Bindings in the order of the policy set (the progress slot names them by index). */
  readonly bindings: readonly BindingSummary[];
}

/** A Decision as it crosses back: no `patched` object and no `response.patch` (the body has it). */
export type ThreadDecision = Omit<Decision, 'patched'>;

/** What a reply carries besides status and body, when it carries anything (see DecisionDetail). */
export interface ReplyNote {
  /** The item's index in its batch. */
  readonly item: number;
  readonly decision?: ThreadDecision;
  readonly error?: { readonly code: string; readonly message: string };
}

/**
 * Metric counts made on a thread since its previous delta. Counters are `[labels joined by "\0", count]`
 * pairs; policy durations are per binding: bucket counts (not cumulative) over DURATION_BUCKETS (src/metrics)
 * plus one overflow bucket, and their sum in seconds.
 */
export interface MetricsDelta {
  /** endpoint, operation, kind, decision. */
  readonly requests: readonly (readonly [string, number])[];
  /** binding, policy, result. */
  readonly evaluations: readonly (readonly [string, number])[];
  /** binding, code. */
  readonly errors: readonly (readonly [string, number])[];
  /** binding. */
  readonly timeouts: readonly (readonly [string, number])[];
  readonly durations: readonly {
    readonly binding: string;
    readonly buckets: Float64Array;
    readonly sum: number;
  }[];
}

/**
 * The answers to a batch: the encodeAnswers buffer alone (transferred) when no item carries a note and no
 * counts are due, the usual case under load at the info log level; else this object around it.
 */
export type BatchAnswer = ArrayBuffer | NotedBatchAnswer;

export interface NotedBatchAnswer {
  readonly type: 'batch-done';
  /** encodeAnswers' buffer, transferred. */
  readonly bytes: ArrayBuffer;
  /** Only for the items that carry a decision or an error (ascending `item`). */
  readonly notes: readonly ReplyNote[];
  /** Counts due (at most every METRICS_FLUSH_MS, or when asked). */
  readonly metrics?: MetricsDelta;
}

/** Counts sent on their own: after a flush request, or when a thread went idle with counts pending. */
export interface MetricsAnswer {
  readonly type: 'metrics';
  readonly metrics: MetricsDelta;
}

/** Thread → owner, on the lane's port. */
export type FromLane = ReadyAnswer | BatchAnswer | MetricsAnswer;

/** Buckets of every duration histogram (src/metrics re-exports them): 100 µs to 10 s. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** How long a thread keeps metric counts before sending them (with a batch answer, or on their own). */
export const METRICS_FLUSH_MS = 250;

/**
 * Progress slot layout: Int32 cells written by the thread with Atomics.store, read by the watchdog.
 * `DEADLINE` is a Float64 cell (plain store: a torn read is harmless, the next tick reads it again).
 */
export const Progress = {
  /** Index of the item being evaluated, -1 before the first. */
  ITEM: 0,
  /** Index (in the policy set) of the binding last entered for this item, -1 if none yet. */
  BINDING: 1,
  /** 1 while the synchronous part of a binding's validate()/mutate() runs. */
  IN_BINDING: 2,
  /** 1 once a binding of this item returned violations under `deny` (or failed closed). */
  DENIED: 3,
  /**
   * Bindings of this item under `deny` whose async result has not settled: any of them may still deny.
   * A settled one sets DENIED if it denied.
   */
  PENDING: 4,
  /** Index of the binding that went pending last (which one, when PENDING is 1). */
  PENDING_BINDING: 5,
  /** Int32 cells in the slot. */
  INT32_CELLS: 6,
  /** Byte offset of the Float64 deadline of the binding being run (absolute, shared clock). */
  DEADLINE_BYTE: 24,
  BYTES: 32,
} as const;

/** A clock both sides read the same way: milliseconds since the epoch, monotonic within a thread. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Exhaustiveness check for `switch` over the unions above. */
export function unexpected(m: never): never {
  throw new Error(`unexpected thread message ${JSON.stringify(m)}`);
}
