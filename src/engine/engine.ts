import { decodeReview } from '../admission/decode.js';
import { encodeStatus, statusReason } from '../admission/encode.js';
import { describeError, isTollgateError, TollgateError } from '../errors.js';
import { compilePolicies } from './compile.js';
import { readDocuments } from './documents.js';
import { encodeDecision, evaluateReview } from './evaluate.js';
import { buildPolicySet, type PolicySet } from './policy-set.js';
import type { Decision, PolicySetSource, SourceDocument } from './types.js';

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

export interface LoadOptions {
  /** Directory of policies (`rules/<name>/index.ts`). */
  readonly rules: string;
  /** Binding files or directories (Tollgate Bindings and Gatekeeper constraints). */
  readonly configs: readonly string[];
  /** Cluster objects (Namespaces and other inventory) for matching and referential policies. */
  readonly data: readonly string[];
  readonly cacheDir?: string;
}

/**
 * Binding documents among everything under `--config`: Tollgate's own group and Gatekeeper constraints.
 * Other objects (ConstraintTemplates, sample Pods kept beside bindings) are not bindings and are skipped;
 * a document in Tollgate's group that is not a valid Binding is still an error.
 */
function bindingDocs(docs: readonly SourceDocument[]): SourceDocument[] {
  return docs.filter((d) => {
    const v = d.value as { apiVersion?: unknown } | null;
    const av = typeof v === 'object' && v !== null && typeof v.apiVersion === 'string' ? v.apiVersion : '';
    return av.startsWith('tollgate.dev/') || av.startsWith('constraints.gatekeeper.sh/') || av === '';
  });
}

/** Read, compile and parse everything a policy set is made of, as plain data. */
export async function loadSource(opts: LoadOptions): Promise<PolicySetSource> {
  const [policies, bindings, data] = await Promise.all([
    compilePolicies(opts.rules, opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    Promise.resolve().then(() => bindingDocs(readDocuments(opts.configs))),
    Promise.resolve().then(() => readDocuments(opts.data)),
  ]);
  return { policies, bindings, data };
}

export async function loadPolicySet(opts: LoadOptions): Promise<PolicySet> {
  return buildPolicySet(await loadSource(opts));
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
    const decision = await evaluateReview(set, review, {
      mutate: req.endpoint === 'mutate',
      ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}),
      ...(opts.freezeObjects ? { freezeObjects: true } : {}),
    });
    return { status: 200, body: encodeDecision(review, decision), decision };
  } catch (e) {
    return errorReply(e instanceof TollgateError ? e : new Error(describeError(e)));
  }
}

/** Evaluates on the calling thread. Used by the CLI, the benchmarks' "inline" contestant and tests. */
export class InlineEngine implements Engine {
  private constructor(
    private readonly set: PolicySet,
    private readonly handleOpts: HandleOptions,
  ) {}

  static async create(opts: LoadOptions, handleOpts: HandleOptions = {}): Promise<InlineEngine> {
    return new InlineEngine(await loadPolicySet(opts), handleOpts);
  }

  static fromPolicySet(set: PolicySet, handleOpts: HandleOptions = {}): InlineEngine {
    return new InlineEngine(set, handleOpts);
  }

  get policySet(): PolicySet {
    return this.set;
  }

  evaluate(req: EngineRequest): Promise<EngineReply> {
    return handleRequest(this.set, req, this.handleOpts);
  }

  async close(): Promise<void> {}
}
