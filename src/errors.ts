/**
 * The one registry of errors a user can see. Every code has a stable name, an HTTP status where it
 * surfaces on the webhook, and a message that says how to fix the problem. `docs/errors.md` is kept in
 * step by `src/errors.test.ts`; tests assert codes, never wording.
 */

export interface ErrorSpec {
  /** HTTP status when the error answers a webhook call (400-class for the caller's fault). */
  readonly status: number;
  /** What it means and how to fix it; shown in docs/errors.md. */
  readonly summary: string;
}

export const ERRORS = {
  TOLLGATE_ERR_CONFIG_INVALID: {
    status: 500,
    summary: 'The configuration (file, environment or flags) is invalid; every problem is listed.',
  },
  TOLLGATE_ERR_INPUT_UNREADABLE: {
    status: 400,
    summary: 'A file or directory named on the command line cannot be read.',
  },
  TOLLGATE_ERR_INPUT_PARSE: {
    status: 400,
    summary: 'A YAML or JSON document does not parse; the file and line are named.',
  },
  TOLLGATE_ERR_POLICY_COMPILE: {
    status: 500,
    summary: 'A policy module does not compile (syntax or import error); the file and line are named.',
  },
  TOLLGATE_ERR_POLICY_INVALID: {
    status: 500,
    summary:
      'A policy module does not default-export definePolicy({...}) with a name and validate or mutate.',
  },
  TOLLGATE_ERR_POLICY_DUPLICATE: { status: 500, summary: 'Two policies (or aliases) have the same name.' },
  TOLLGATE_ERR_BINDING_INVALID: {
    status: 500,
    summary: 'A binding or Gatekeeper constraint is malformed; the file, document and JSON path are named.',
  },
  TOLLGATE_ERR_BINDING_UNKNOWN_POLICY: {
    status: 500,
    summary: 'A binding names a policy that is not loaded; the available policies are listed.',
  },
  TOLLGATE_ERR_BINDING_PARAMS: {
    status: 500,
    summary: "A binding's parameters do not match the policy's JSON Schema; the JSON path is named.",
  },
  TOLLGATE_ERR_BINDING_DUPLICATE: { status: 500, summary: 'Two bindings have the same name.' },
  TOLLGATE_ERR_ADMISSION_BAD_JSON: { status: 400, summary: 'The request body is not valid JSON.' },
  TOLLGATE_ERR_ADMISSION_BAD_GVK: {
    status: 400,
    summary: 'The body is not an AdmissionReview of admission.k8s.io/v1 or v1beta1.',
  },
  TOLLGATE_ERR_ADMISSION_NO_REQUEST: { status: 400, summary: 'The AdmissionReview has no request object.' },
  TOLLGATE_ERR_ADMISSION_NO_UID: {
    status: 400,
    summary: 'request.uid is missing, empty or not a string: no verifiable response can be made.',
  },
  TOLLGATE_ERR_ADMISSION_BAD_FIELD: {
    status: 400,
    summary: 'A request field has the wrong type (for example object is a string).',
  },
  TOLLGATE_ERR_POLICY_THREW: {
    status: 500,
    summary: 'A policy threw while evaluating; its failure policy decided the request.',
  },
  TOLLGATE_ERR_POLICY_BAD_RESULT: {
    status: 500,
    summary: 'A policy returned something that is not a violation list, warnings or a patched object.',
  },
  TOLLGATE_ERR_POLICY_TIMEOUT: {
    status: 500,
    summary: 'A policy did not finish within its evaluation timeout; its failure policy decided the request.',
  },
  TOLLGATE_ERR_POLICY_CRASHED: {
    status: 500,
    summary:
      "A policy exhausted its pool thread's heap (resourceLimits) or crashed the thread; the thread was replaced and the binding's failure policy decided.",
  },
  TOLLGATE_ERR_POOL_OVERLOADED: {
    status: 503,
    summary:
      'The evaluation queue is full, or a request waited past its deadline: answered at once with 503 so the API server applies the webhook failurePolicy. Add threads, raise the queue, or fix the slow policy.',
  },
  TOLLGATE_ERR_TEST_FAILED: {
    status: 500,
    summary: 'A policy test case did not produce the expected outcome.',
  },
  TOLLGATE_ERR_TEST_INVALID: {
    status: 400,
    summary:
      'A policy test suite (*.test.yaml) is malformed; the file, line, case and field are named (see docs/policy-tests.md).',
  },
  TOLLGATE_ERR_UWS_NATIVE: {
    status: 500,
    summary:
      'The native uWebSockets.js binding does not load for this platform and Node.js ABI; Tollgate refuses the slow JS fallback.',
  },
  TOLLGATE_ERR_LISTEN: {
    status: 500,
    summary:
      'The server cannot listen on the configured host and port (in use, or not permitted), or the TLS files are unusable.',
  },
  TOLLGATE_ERR_CERTS: {
    status: 500,
    summary:
      '`tollgate certs` could not create the CA or serving certificate (is `openssl` installed? is --out writable?).',
  },
  TOLLGATE_ERR_HTTP_UNAUTHORIZED: {
    status: 401,
    summary: 'The request lacks the bearer token configured with --auth-token-file.',
  },
  TOLLGATE_ERR_HTTP_NOT_FOUND: {
    status: 404,
    summary: 'No such endpoint: use POST /validate, POST /mutate (or POST /), GET /healthz, GET /readyz.',
  },
  TOLLGATE_ERR_HTTP_METHOD: {
    status: 405,
    summary: 'Wrong HTTP method for the endpoint; the Allow header names the right one.',
  },
  TOLLGATE_ERR_HTTP_BODY_TOO_LARGE: {
    status: 413,
    summary: 'The request body exceeds the configured body limit (--body-limit).',
  },
  TOLLGATE_ERR_HTTP_MEDIA_TYPE: {
    status: 415,
    summary: 'The request is not Content-Type application/json, or it is compressed (Content-Encoding).',
  },
  TOLLGATE_ERR_UNAVAILABLE: {
    status: 503,
    summary:
      'The worker is not ready (policies not loaded yet) or is shutting down; the API server applies its failurePolicy.',
  },
  TOLLGATE_ERR_DEADLINE_EXCEEDED: {
    status: 504,
    summary:
      "The evaluation did not finish within the request's ?timeout; the API server applies its failurePolicy.",
  },
  TOLLGATE_ERR_INTERNAL: {
    status: 500,
    summary:
      'An unexpected internal error; the request fails closed (the API server applies its failurePolicy).',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class TollgateError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'TollgateError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export function isTollgateError(e: unknown): e is TollgateError {
  return e instanceof TollgateError;
}

/** A short, single-line description of any thrown value, never its whole payload. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  try {
    return String(e).slice(0, 500);
  } catch {
    return 'unprintable error value';
  }
}
