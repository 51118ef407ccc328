/**
 * What a server needs of an engine, and the reply for a request that failed before or outside any
 * policy. Kept apart from engine.ts so that processes which only hand requests to pool threads (the
 * workers' event loops) never load the compiler, ajv or the policy set code.
 */
import { encodeStatus, statusReason } from '../admission/encode.js';
import { describeError, isTollgateError } from '../errors.js';
import type { Decision } from './types.js';

export type Endpoint = 'validate' | 'mutate';

export interface EngineRequest {
  /** The raw request body, as received. */
  readonly body: Uint8Array;
  readonly endpoint: Endpoint;
  /** Time budget for the whole evaluation (from the request's `?timeout=` minus a margin). */
  readonly timeoutMs?: number;
}

export interface EngineReply {
  /** HTTP status: 200 with an AdmissionReview, or 4xx/5xx with a metav1.Status body. */
  readonly status: number;
  readonly body: string;
  /** `body` as UTF-8, when the engine has it so (the pool's replies): what a server sends. */
  readonly bytes?: Uint8Array;
  /** Present when a review was evaluated: what was decided, for logs and metrics. */
  readonly decision?: Decision;
  /** Present for 4xx/5xx: the error code. */
  readonly error?: { readonly code: string; readonly message: string };
}

/**
 * What the server needs from an engine: bytes in, encoded response out. The inline engine evaluates on
 * the calling thread; the pool engine on piscina threads. Both pass test/engine-conformance.
 */
export interface Engine {
  evaluate(req: EngineRequest): Promise<EngineReply>;
  close(): Promise<void>;
}

export function errorReply(e: unknown): EngineReply {
  if (isTollgateError(e)) {
    return {
      status: e.status,
      body: encodeStatus(e.status, statusReason(e.status), e.message),
      error: { code: e.code, message: e.message },
    };
  }
  const message = `internal error: ${describeError(e)}`;
  return {
    status: 500,
    body: encodeStatus(500, 'InternalError', message),
    error: { code: 'TOLLGATE_ERR_INTERNAL', message },
  };
}
