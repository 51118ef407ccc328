/**
 * The messages the primary and its node:cluster workers exchange over the IPC channel, as discriminated
 * unions. Nothing else crosses that channel (prom-client's own `prom-client:*` messages are not used:
 * the primary asks for metrics with `metrics-request` so it can label and retain them per worker).
 *
 * A worker's life, as the primary drives it (src/primary/supervisor.ts):
 *
 *   worker                                   primary
 *   hello {pid}                      ──▶
 *                                    ◀──     init {slot, generation, source}   (the validated policy set)
 *   (build engine, listen)
 *   ready {generation, port}         ──▶     the worker now counts as serving
 *                                    ◀──     reload {generation, source}        (after a file change)
 *   reload-result {generation, ...}  ──▶
 *                                    ◀──     cert-reload {generation}           (cert/key files changed)
 *   reload-result {what: 'certs'...} ──▶     on failure the primary replaces the worker instead
 *                                    ◀──     metrics-request {id}
 *   metrics-response {id, metrics}   ──▶
 *                                    ◀──     shutdown {graceMs}                 (SIGTERM, rolling restart)
 *   (close the listen socket, answer in-flight requests with Connection: close, close idle sockets)
 *   final-metrics {metrics}          ──▶     optional: the worker's last counts, so totals never drop
 *   (exit 0)
 *   fatal {error}                    ──▶     the worker cannot start (bad TLS files...): it exits next
 *
 * A worker sends `hello` as soon as its message listener is installed: a message sent to a worker before
 * it listens is dropped, so the primary never speaks first. Every message crosses as structured data
 * (JSON over the IPC pipe): errors travel as `{code, message}` values, never as Error objects.
 */
import type { Registry } from 'prom-client';
import type { PolicySetSource } from '../engine/types.js';

/** An error as a value: the code from src/errors.ts and a one-line message. */
export interface ErrorValue {
  readonly code: string;
  readonly message: string;
}

/** One registry's metrics as `registry.getMetricsAsJSON()` returns them. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

// ---- primary -> worker ----------------------------------------------------------------------------

export interface InitMessage {
  readonly type: 'tollgate:init';
  /** The worker's slot, 0..workers-1; a respawned or replacement worker takes over its slot. */
  readonly slot: number;
  /** Policy set generation: 1 at start, +1 per accepted reload. */
  readonly generation: number;
  readonly source: PolicySetSource;
}

export interface ReloadMessage {
  readonly type: 'tollgate:reload';
  readonly generation: number;
  /** Already compiled and validated by the primary: the worker hands it to `engine.reload(source)`. */
  readonly source: PolicySetSource;
}

export interface CertReloadMessage {
  readonly type: 'tollgate:cert-reload';
  readonly generation: number;
}

export interface ShutdownMessage {
  readonly type: 'tollgate:shutdown';
  /** Time the worker has to drain before the primary kills it. */
  readonly graceMs: number;
}

export interface MetricsRequestMessage {
  readonly type: 'tollgate:metrics-request';
  readonly id: number;
}

export type PrimaryMessage =
  | InitMessage
  | ReloadMessage
  | CertReloadMessage
  | ShutdownMessage
  | MetricsRequestMessage;

// ---- worker -> primary ----------------------------------------------------------------------------

export interface HelloMessage {
  readonly type: 'tollgate:hello';
  readonly pid: number;
}

export interface ReadyMessage {
  readonly type: 'tollgate:ready';
  /** The policy generation the worker serves (from `init`). */
  readonly generation: number;
  /** The port the worker listens on. */
  readonly port: number;
}

export interface ReloadResultMessage {
  readonly type: 'tollgate:reload-result';
  readonly what: 'policies' | 'certs';
  readonly generation: number;
  readonly ok: boolean;
  readonly error?: ErrorValue;
}

export interface MetricsResponseMessage {
  readonly type: 'tollgate:metrics-response';
  readonly id: number;
  readonly metrics: MetricsSnapshot;
}

export interface FinalMetricsMessage {
  readonly type: 'tollgate:final-metrics';
  readonly metrics: MetricsSnapshot;
}

export interface FatalMessage {
  readonly type: 'tollgate:fatal';
  readonly error: ErrorValue;
}

export type WorkerMessage =
  | HelloMessage
  | ReadyMessage
  | ReloadResultMessage
  | MetricsResponseMessage
  | FinalMetricsMessage
  | FatalMessage;

// ---- narrowing and dispatch -----------------------------------------------------------------------

const PRIMARY_TYPES: ReadonlySet<string> = new Set<PrimaryMessage['type']>([
  'tollgate:init',
  'tollgate:reload',
  'tollgate:cert-reload',
  'tollgate:shutdown',
  'tollgate:metrics-request',
]);

const WORKER_TYPES: ReadonlySet<string> = new Set<WorkerMessage['type']>([
  'tollgate:hello',
  'tollgate:ready',
  'tollgate:reload-result',
  'tollgate:metrics-response',
  'tollgate:final-metrics',
  'tollgate:fatal',
]);

function typeOf(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const t = (m as { type?: unknown }).type;
  return typeof t === 'string' ? t : undefined;
}

/**
 * Whether an IPC message is one of ours for a worker. Node's cluster and prom-client send their own
 * messages on the same channel; those are ignored, not errors. The sender is our own code, so the type
 * tag is trusted for the rest of the shape.
 */
export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  const t = typeOf(m);
  return t !== undefined && PRIMARY_TYPES.has(t);
}

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  const t = typeOf(m);
  return t !== undefined && WORKER_TYPES.has(t);
}

/** One handler per message type; leaving a type out is a compile error. */
export type Handlers<M extends { readonly type: string }, R> = {
  readonly [T in M['type']]: (message: Extract<M, { readonly type: T }>) => R;
};

/** Dispatch a message to the handler of its type (exhaustive at compile time). */
export function dispatch<M extends { readonly type: string }, R>(message: M, handlers: Handlers<M, R>): R {
  const handler = handlers[message.type as M['type']] as (m: M) => R;
  return handler(message);
}

/** For `switch` statements over a union: `default: return assertNever(m)` fails to compile if a case is missing. */
export function assertNever(x: never): never {
  throw new Error(`unhandled message ${JSON.stringify(typeOf(x))}`);
}

/** Send a message to the primary from a worker (no-op outside a cluster worker). */
export function sendToPrimary(message: WorkerMessage): boolean {
  if (typeof process.send !== 'function' || !process.connected) return false;
  return process.send(message);
}

/** Listen for our messages from the primary in a worker; returns a function that removes the listener. */
export function onPrimaryMessage(handler: (message: PrimaryMessage) => void): () => void {
  const listener = (m: unknown): void => {
    if (isPrimaryMessage(m)) handler(m);
  };
  process.on('message', listener);
  return () => {
    process.off('message', listener);
  };
}
