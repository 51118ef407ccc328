import { resolve } from 'node:path';
import { encodeReview, sanitizeWarnings } from '../admission/encode.js';
import type { AdmissionResponse, AdmissionReview, KubeObject } from '../admission/types.js';
import { describeError, type ErrorCode } from '../errors.js';
import type { ValidateResult, ViolationLike } from '../sdk/types.js';
import { Context, RequestMemo, requestInfo, templateAsPod, templateView, writeTemplate } from './context.js';
import { diff, jsonEqual } from './patch.js';
import type { Candidate, PolicySet } from './policy-set.js';
import type { Decision, EvaluationOutcome, EvaluationRecord, ViolationRecord } from './types.js';

// Stack traces of policy errors point to rules/<name>/index.ts:LINE through the bundles' inline maps.
process.setSourceMapsEnabled(true);

export interface EvaluateOptions {
  /** Run mutate() of mutating policies and return a JSONPatch (the /mutate endpoint). */
  readonly mutate: boolean;
  /** Upper bound for any single async policy, in ms (the request deadline minus a margin). */
  readonly timeoutMs?: number | undefined;
  /** Freeze the object under review so a validate() that writes to it fails loudly (tests, CLI). */
  readonly freezeObjects?: boolean;
}

const MAX_MESSAGE = 1024;
const MAX_VIOLATIONS = 64;
const DEFAULT_POLICY_TIMEOUT_MS = 5000;

class PolicyFailure {
  constructor(
    readonly code: ErrorCode,
    readonly message: string,
  ) {}
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 1)}…` : s;
}

function violation(v: unknown): ViolationRecord | undefined {
  if (typeof v === 'string') return v === '' ? undefined : { message: clip(v) };
  if (typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string') {
    const { message, path } = v as { message: string; path?: unknown };
    if (message === '') return undefined;
    return typeof path === 'string' ? { message: clip(message), path } : { message: clip(message) };
  }
  return undefined;
}

interface Normalized {
  readonly violations: ViolationRecord[];
  readonly warnings: string[];
}

const NONE: Normalized = Object.freeze({ violations: [], warnings: [] }) as Normalized;

/** Turn whatever validate() returned into violations and warnings, or a failure for garbage. */
function normalize(r: ValidateResult): Normalized | PolicyFailure {
  if (r === undefined || r === null) return NONE;
  const list = (items: readonly ViolationLike[]): ViolationRecord[] | PolicyFailure => {
    const out: ViolationRecord[] = [];
    for (const item of items) {
      const v = violation(item);
      if (v === undefined) {
        return new PolicyFailure(
          'TOLLGATE_ERR_POLICY_BAD_RESULT',
          `violation is not a non-empty string or {message, path}: ${preview(item)}`,
        );
      }
      if (out.length === MAX_VIOLATIONS) {
        out.push({ message: `…and ${items.length - MAX_VIOLATIONS} more` });
        break;
      }
      out.push(v);
    }
    return out;
  };
  if (typeof r === 'string' || Array.isArray(r)) {
    const v = list(typeof r === 'string' ? [r] : (r as readonly ViolationLike[]));
    return v instanceof PolicyFailure ? v : { violations: v, warnings: [] };
  }
  if (typeof r === 'object') {
    const o = r as { violations?: unknown; warnings?: unknown; message?: unknown };
    if (typeof o.message === 'string') {
      const v = list([o as ViolationLike]);
      return v instanceof PolicyFailure ? v : { violations: v, warnings: [] };
    }
    if (o.violations === undefined || Array.isArray(o.violations)) {
      if (
        o.warnings !== undefined &&
        (!Array.isArray(o.warnings) || o.warnings.some((w) => typeof w !== 'string'))
      ) {
        return new PolicyFailure('TOLLGATE_ERR_POLICY_BAD_RESULT', 'warnings must be a list of strings');
      }
      const v = list((o.violations ?? []) as ViolationLike[]);
      return v instanceof PolicyFailure
        ? v
        : { violations: v, warnings: ((o.warnings ?? []) as string[]).map(clip) };
    }
  }
  return new PolicyFailure('TOLLGATE_ERR_POLICY_BAD_RESULT', `validate returned ${preview(r)}`);
}

function preview(v: unknown): string {
  try {
    const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
    return s.length > 80 ? `${s.slice(0, 79)}…` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** `rules/x/index.ts:12` from an error's (source-mapped) stack, when a frame lies in the policy source. */
export function errorLocation(e: unknown, source: string): string | undefined {
  if (!(e instanceof Error) || typeof e.stack !== 'string') return undefined;
  const tail = source.replace(/^\.\//, '');
  // Frames name the file as the source map resolves it: absolute, or relative for older bundles.
  const names = [resolve(tail), tail];
  for (const line of e.stack.split('\n')) {
    for (const name of names) {
      const i = line.indexOf(name);
      if (i < 0) continue;
      const m = /^:(\d+)/.exec(line.slice(i + name.length));
      if (m) return `${tail}:${m[1]}`;
    }
  }
  return undefined;
}

function failureFromThrow(e: unknown, source: string): PolicyFailure {
  const at = errorLocation(e, source);
  return new PolicyFailure(
    'TOLLGATE_ERR_POLICY_THREW',
    `${clip(describeError(e))}${at ? ` (at ${at})` : ` (in ${source})`}`,
  );
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function withTimeout<T>(p: PromiseLike<T>, ms: number, source: string): Promise<T | PolicyFailure> {
  // Never rejects: a thenable whose then() throws, or that resolves to one that does, is a policy failure.
  return new Promise<T | PolicyFailure>((resolve) => {
    const t = setTimeout(
      () =>
        resolve(
          new PolicyFailure('TOLLGATE_ERR_POLICY_TIMEOUT', `did not finish within ${ms} ms (in ${source})`),
        ),
      ms,
    );
    try {
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          resolve(failureFromThrow(e, source));
        },
      );
    } catch (e) {
      clearTimeout(t);
      resolve(failureFromThrow(e, source));
    }
  }).catch((e: unknown) => failureFromThrow(e, source));
}

interface Pending {
  readonly candidate: Candidate;
  readonly start: bigint;
  result: Normalized | PolicyFailure | Promise<ValidateResult | PolicyFailure>;
}

function deepFreeze(v: unknown): void {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
}

/**
 * Evaluate a decoded review against a policy set. Every matching binding is evaluated; a policy that
 * throws, returns garbage or times out becomes a PolicyFailure handled by the binding's failure policy.
 * Synchronous policies complete without awaiting; async ones run concurrently.
 */
export async function evaluateReview(
  set: PolicySet,
  review: AdmissionReview,
  opts: EvaluateOptions,
): Promise<Decision> {
  const req = review.request;
  const candidates = set.candidates(req.kind.group, req.kind.kind, req.operation);
  if (opts.freezeObjects) {
    deepFreeze(req.object);
    deepFreeze(req.oldObject);
  }
  if (opts.mutate) return mutateReview(set, review, candidates, opts);
  const info = candidates.length > 0 ? requestInfo(req) : undefined;
  // Several bindings see the same objects: their container lists are computed once.
  const memo = candidates.length > 1 ? new RequestMemo() : undefined;
  const pending: Pending[] = [];
  for (const c of candidates) {
    const b = c.binding;
    if (b.loaded.validate === undefined || !b.matches(req, set.inventory)) continue;
    const prefix = c.template?.join('.') ?? '';
    let object = req.object;
    let oldObject = req.oldObject;
    if (c.template !== undefined) {
      object = templateView(memo, req.object, c.template);
      oldObject = templateView(memo, req.oldObject, c.template);
      if (object === null && oldObject === null) continue;
    }
    const ctx = new Context(
      info!,
      object,
      oldObject,
      b.params as Record<string, unknown>,
      b.name,
      set.inventory,
      prefix,
      memo,
    );
    const start = process.hrtime.bigint();
    let result: Pending['result'];
    try {
      const r = b.loaded.validate(ctx as never);
      result = isThenable(r)
        ? withTimeout(
            r,
            Math.min(
              b.timeoutMs ?? b.loaded.timeoutMs ?? DEFAULT_POLICY_TIMEOUT_MS,
              opts.timeoutMs ?? Number.POSITIVE_INFINITY,
            ),
            b.loaded.source,
          )
        : normalize(r);
    } catch (e) {
      result = failureFromThrow(e, b.loaded.source);
    }
    pending.push({ candidate: c, start, result });
  }
  const records: EvaluationRecord[] = [];
  for (const p of pending) {
    let r = p.result;
    if (r instanceof Promise) {
      const settled = await r;
      try {
        r = settled instanceof PolicyFailure ? settled : normalize(settled);
      } catch (e) {
        // A result with a throwing getter (or a revoked Proxy) fails like a throwing policy.
        r = failureFromThrow(e, p.candidate.binding.loaded.source);
      }
    }
    records.push(record(p.candidate, r, p.start));
  }
  return decide(review, records, undefined, undefined);
}

function record(c: Candidate, r: Normalized | PolicyFailure, start: bigint): EvaluationRecord {
  const b = c.binding;
  const durationNs = Number(process.hrtime.bigint() - start);
  // Literals of one shape, no spreads: this runs once per evaluation on the request path.
  if (r instanceof PolicyFailure) {
    return {
      binding: b.name,
      policy: b.loaded.name,
      action: b.enforcementAction,
      failurePolicy: b.failurePolicy,
      durationNs,
      outcome: r.code === 'TOLLGATE_ERR_POLICY_TIMEOUT' ? 'timeout' : 'error',
      violations: [],
      error: { code: r.code, message: r.message },
    };
  }
  const violations = c.template ? r.violations.map((v) => rebase(v, c.template!)) : r.violations;
  const outcome: EvaluationOutcome =
    violations.length === 0
      ? r.warnings.length > 0
        ? 'warn'
        : 'allow'
      : b.enforcementAction === 'deny'
        ? 'deny'
        : b.enforcementAction;
  const out: EvaluationRecord = {
    binding: b.name,
    policy: b.loaded.name,
    action: b.enforcementAction,
    failurePolicy: b.failurePolicy,
    durationNs,
    outcome,
    violations,
  };
  if (r.warnings.length > 0) (out as { warnings?: readonly string[] }).warnings = r.warnings;
  return out;
}

/** A path a policy wrote relative to the Pod view (`spec.containers[0]`) made real (`spec.template.spec…`). */
function rebase(v: ViolationRecord, template: readonly string[]): ViolationRecord {
  if (v.path === undefined) return v;
  const prefix = `${template.join('.')}.`;
  if (v.path.startsWith(prefix)) return v;
  if (v.path.startsWith('spec') || v.path.startsWith('metadata')) return { ...v, path: prefix + v.path };
  return v;
}

/** Assemble the AdmissionResponse from the evaluation records (and the patch, for mutations). */
function decide(
  review: AdmissionReview,
  records: readonly EvaluationRecord[],
  patch: string | undefined,
  patched: KubeObject | undefined,
): Decision {
  const req = review.request;
  const denials: string[] = [];
  const warnings: string[] = [];
  for (const r of records) {
    const b = r.binding;
    if (r.error !== undefined) {
      const text = `[${b}] policy failed (${r.error.code}): ${r.error.message}`;
      const failClosed = r.failurePolicy === 'deny';
      if (r.action === 'deny' && failClosed) denials.push(text);
      else if (r.action !== 'dryrun') warnings.push(failClosed ? text : `${text}; allowed by failurePolicy`);
      continue;
    }
    if (r.action === 'deny') for (const v of r.violations) denials.push(`[${b}] ${v.message}`);
    else if (r.action === 'warn') for (const v of r.violations) warnings.push(`[${b}] ${v.message}`);
    for (const w of r.warnings ?? []) warnings.push(`[${b}] ${w}`);
  }
  const cleanWarnings = warnings.length > 0 ? sanitizeWarnings(warnings) : undefined;
  // Literals plus assignments, no conditional spreads: this runs once per request.
  const response: Mutable<AdmissionResponse> = { uid: req.uid, allowed: denials.length === 0 };
  if (denials.length > 0) {
    response.status = { code: 403, reason: 'Forbidden', message: denials.join('; ') };
  } else if (patch !== undefined) {
    response.patchType = 'JSONPatch';
    response.patch = patch;
  }
  if (cleanWarnings !== undefined && cleanWarnings.length > 0) response.warnings = cleanWarnings;
  // For logs and metrics: a string, whatever the (unchecked) objects carry.
  const name =
    typeof req.name === 'string'
      ? req.name
      : typeof req.object?.metadata?.name === 'string'
        ? req.object.metadata.name
        : typeof req.oldObject?.metadata?.name === 'string'
          ? req.oldObject.metadata.name
          : undefined;
  const decision: Mutable<Decision> = {
    response,
    uid: req.uid,
    kind: req.kind.kind,
    namespace: req.namespace,
    name,
    operation: req.operation,
    evaluations: records,
  };
  if (patched !== undefined && patch !== undefined) decision.patched = patched;
  return decision;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function isPlainObject(v: unknown): v is KubeObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * The object exactly as the API server will receive it (undefined members and functions dropped, NaN as
 * null, toJSON applied), so the diff never emits an operation JSON cannot carry; cycles and BigInt make
 * the result a bad one rather than a crash.
 */
function asJson(o: KubeObject): KubeObject | PolicyFailure {
  let text: string;
  try {
    text = JSON.stringify(o);
  } catch (e) {
    return new PolicyFailure(
      'TOLLGATE_ERR_POLICY_BAD_RESULT',
      `mutate result is not JSON: ${clip(describeError(e))}`,
    );
  }
  return JSON.parse(text) as KubeObject;
}

/**
 * Mutations run one binding after another on a working copy, each on a fresh clone so that a policy that
 * fails half-way leaves nothing behind; the patch is the diff from the object as sent to the result.
 */
async function mutateReview(
  set: PolicySet,
  review: AdmissionReview,
  candidates: readonly Candidate[],
  opts: EvaluateOptions,
): Promise<Decision> {
  const req = review.request;
  const records: EvaluationRecord[] = [];
  // DELETE and CONNECT without an object cannot be patched (a patch there fails the request, §3.4).
  if (req.object === null || req.operation === 'DELETE' || req.operation === 'CONNECT') {
    return decide(review, records, undefined, undefined);
  }
  const info = requestInfo(req);
  let working: KubeObject = req.object;
  for (const c of candidates) {
    const b = c.binding;
    if (b.loaded.mutate === undefined || !b.matches(req, set.inventory)) continue;
    const start = process.hrtime.bigint();
    let outcome: KubeObject | PolicyFailure;
    const copy = structuredClone(working);
    try {
      const view = c.template ? templateAsPod(copy, c.template) : copy;
      if (view === null) continue;
      const ctx = new Context(
        info,
        view,
        c.template ? templateAsPod(req.oldObject, c.template) : req.oldObject,
        b.params as Record<string, unknown>,
        b.name,
        set.inventory,
        c.template?.join('.') ?? '',
      );
      let r: unknown = b.loaded.mutate(ctx as never);
      if (isThenable(r)) {
        const ms = Math.min(
          b.timeoutMs ?? b.loaded.timeoutMs ?? DEFAULT_POLICY_TIMEOUT_MS,
          opts.timeoutMs ?? Number.POSITIVE_INFINITY,
        );
        r = await withTimeout(r, ms, b.loaded.source);
      }
      if (r instanceof PolicyFailure) outcome = r;
      else if (r !== undefined && r !== null && !isPlainObject(r)) {
        outcome = new PolicyFailure(
          'TOLLGATE_ERR_POLICY_BAD_RESULT',
          `mutate returned ${preview(r)}; return the changed object or nothing`,
        );
      } else {
        // Nothing returned: the policy changed its copy in place. Under autogen, write the Pod view back.
        const result = r === undefined || r === null ? view : r;
        if (c.template) writeTemplate(copy, c.template, result);
        outcome = asJson(c.template ? copy : result);
      }
    } catch (e) {
      outcome = failureFromThrow(e, b.loaded.source);
    }
    if (outcome instanceof PolicyFailure) {
      records.push(record(c, outcome, start));
      continue;
    }
    const changed = !jsonEqual(working, outcome);
    if (b.enforcementAction !== 'dryrun') working = outcome;
    records.push({
      binding: b.name,
      policy: b.loaded.name,
      action: b.enforcementAction,
      failurePolicy: b.failurePolicy,
      outcome: changed ? (b.enforcementAction === 'dryrun' ? 'dryrun' : 'mutated') : 'allow',
      violations: [],
      durationNs: Number(process.hrtime.bigint() - start),
    });
  }
  const ops = working === req.object ? [] : diff(req.object, working);
  const patch = ops.length > 0 ? Buffer.from(JSON.stringify(ops)).toString('base64') : undefined;
  return decide(review, records, patch, patch !== undefined ? working : undefined);
}

/** Encode a decision as the response body (echoing the review's apiVersion). */
export function encodeDecision(review: AdmissionReview, d: Decision): string {
  return encodeReview(review.apiVersion, d.response);
}
