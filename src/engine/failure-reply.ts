/**
 * Answers the pool gives on the main thread, when a thread could not: by a binding's failure policy for a
 * request whose thread was stopped, and 503 for requests no thread took in time.
 */
import { decodeReview } from '../admission/decode.js';
import { encodeReview, encodeStatus, sanitizeWarnings } from '../admission/encode.js';
import type { AdmissionResponse } from '../admission/types.js';
import { type ErrorCode, TollgateError } from '../errors.js';
import type { BindingSummary } from '../ipc/thread-messages.js';
import { type EngineReply, errorReply } from './reply.js';
import type { Decision, EvaluationRecord } from './types.js';

/** 503 TOLLGATE_ERR_POOL_OVERLOADED, without Retry-After: the API server applies the webhook's failurePolicy. */
export function unavailable(message: string): EngineReply {
  return {
    status: 503,
    body: encodeStatus(503, 'ServiceUnavailable', message),
    error: { code: 'TOLLGATE_ERR_POOL_OVERLOADED', message },
  };
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
