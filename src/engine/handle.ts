/**
 * The request path both engines share: decode, evaluate, encode. Kept apart from engine.ts so that pool
 * threads, which only serve a ready-made set, never load the compiler.
 */
import { decodeReview } from '../admission/decode.js';
import { describeError, TollgateError } from '../errors.js';
import { encodeDecision, evaluateReview } from './evaluate.js';
import type { PolicySet } from './policy-set.js';
import { type EngineReply, type EngineRequest, errorReply } from './reply.js';

/** Evaluation options an engine fixes for every request (not per-request wire data). */
export interface HandleOptions {
  /** Deep-freeze the decoded object so a validate() that writes to it fails loudly (CLI, tests). */
  readonly freezeObjects?: boolean;
}

/** Decode, evaluate, encode: the one request path both engines share. */
export async function handleRequest(
  set: PolicySet,
  req: EngineRequest,
  opts: HandleOptions = {},
): Promise<EngineReply> {
  let review: ReturnType<typeof decodeReview>;
  try {
    review = decodeReview(req.body);
  } catch (e) {
    return errorReply(e);
  }
  try {
    // Always the same shape (undefined for absent options): this object is made per request.
    const decision = await evaluateReview(set, review, {
      mutate: req.endpoint === 'mutate',
      timeoutMs: req.timeoutMs,
      freezeObjects: opts.freezeObjects === true,
    });
    return { status: 200, body: encodeDecision(review, decision), decision };
  } catch (e) {
    return errorReply(e instanceof TollgateError ? e : new Error(describeError(e)));
  }
}
