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
import type { Endpoint } from '../engine/engine.js';
import type { Decision, EnforcementAction, FailurePolicy, PolicySetSource } from '../engine/types.js';
import type { ErrorCode } from '../errors.js';

/** What a thread is started with (piscina `workerData`): the plain policy set source it builds itself. */
export interface ThreadInit {
  readonly source: PolicySetSource;
}

/** One request in a batch: its bytes are `bytes[offset, offset + length)` of the batch buffer. */
export interface BatchItem {
  readonly offset: number;
  readonly length: number;
  readonly endpoint: Endpoint;
  /** Absolute deadline, in ms on the shared clock (`now()` below). */
  readonly deadline: number;
}

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

/** Evaluate requests in order. `bytes` is transferred (the owner keeps its own copy of each body). */
export interface BatchTask {
  readonly type: 'batch';
  readonly bytes: ArrayBuffer;
  readonly items: readonly BatchItem[];
}

/** Owner → thread, on the lane's port. */
export type ToLane = BatchTask;

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

/** The server's answer to one request, kept small. */
export interface ThreadReply {
  readonly status: number;
  readonly body: string;
  readonly decision?: ThreadDecision;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface BatchAnswer {
  readonly type: 'batch-done';
  /** One reply per item, in order. */
  readonly replies: readonly ThreadReply[];
}

/** Thread → owner, on the lane's port. */
export type FromLane = ReadyAnswer | BatchAnswer;

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
  /** Int32 cells in the slot. */
  INT32_CELLS: 4,
  /** Byte offset of the Float64 deadline of the binding being run (absolute, shared clock). */
  DEADLINE_BYTE: 16,
  BYTES: 24,
} as const;

/** A clock both sides read the same way: milliseconds since the epoch, monotonic within a thread. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Exhaustiveness check for `switch` over the unions above. */
export function unexpected(m: never): never {
  throw new Error(`unexpected thread message ${JSON.stringify(m)}`);
}
