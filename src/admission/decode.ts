import { TollgateError } from '../errors.js';
import {
  type AdmissionRequest,
  type AdmissionReview,
  type GroupVersionKind,
  type GroupVersionResource,
  type KubeObject,
  OPERATIONS,
  type Operation,
  REVIEW_V1,
  REVIEW_V1BETA1,
  type ReviewApiVersion,
  type UserInfo,
} from './types.js';

const decoder = new TextDecoder('utf-8', { fatal: false });

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(field: string, expected: string): TollgateError {
  return new TollgateError('TOLLGATE_ERR_ADMISSION_BAD_FIELD', `request.${field} must be ${expected}`, {
    field,
  });
}

function optString(r: Json, field: string): string | undefined {
  const v = r[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(field, 'a string');
  return v;
}

function gvk(r: Json, field: string, required: boolean): GroupVersionKind | undefined {
  const v = r[field];
  if (v === undefined || v === null) {
    if (required) throw bad(field, 'an object {group, version, kind}');
    return undefined;
  }
  if (!isRecord(v) || typeof v.kind !== 'string') throw bad(field, 'an object {group, version, kind}');
  return {
    group: typeof v.group === 'string' ? v.group : '',
    version: typeof v.version === 'string' ? v.version : '',
    kind: v.kind,
  };
}

function gvr(r: Json, field: string, required: boolean): GroupVersionResource | undefined {
  const v = r[field];
  if (v === undefined || v === null) {
    if (required) throw bad(field, 'an object {group, version, resource}');
    return undefined;
  }
  if (!isRecord(v)) throw bad(field, 'an object {group, version, resource}');
  return {
    group: typeof v.group === 'string' ? v.group : '',
    version: typeof v.version === 'string' ? v.version : '',
    resource: typeof v.resource === 'string' ? v.resource : '',
  };
}

function object(r: Json, field: string): KubeObject | null {
  const v = r[field];
  if (v === undefined || v === null) return null;
  if (!isRecord(v)) throw bad(field, 'a JSON object or null');
  if (v.metadata !== undefined && v.metadata !== null && !isRecord(v.metadata)) {
    throw bad(`${field}.metadata`, 'a JSON object');
  }
  return v as KubeObject;
}

function userInfo(r: Json): UserInfo {
  const v = r.userInfo;
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw bad('userInfo', 'an object');
  const out: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } = {};
  if (typeof v.username === 'string') out.username = v.username;
  if (typeof v.uid === 'string') out.uid = v.uid;
  if (Array.isArray(v.groups)) out.groups = v.groups.filter((g): g is string => typeof g === 'string');
  if (isRecord(v.extra)) {
    const extra: Record<string, string[]> = Object.create(null);
    for (const [k, vals] of Object.entries(v.extra)) {
      if (Array.isArray(vals)) extra[k] = vals.filter((x): x is string => typeof x === 'string');
    }
    out.extra = extra;
  }
  return out;
}

/** A caller-supplied value quoted for an error message, short whatever the caller sent. */
function echo(v: unknown): string {
  const s = typeof v === 'string' ? v : v === undefined || v === null ? '' : `(${typeof v})`;
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 63)}…` : s);
}

/** Parse already-decoded JSON into a typed AdmissionReview, or throw a TollgateError with a 400 code. */
export function narrowReview(doc: unknown): AdmissionReview {
  if (!isRecord(doc)) {
    throw new TollgateError('TOLLGATE_ERR_ADMISSION_BAD_GVK', 'body is not a JSON object');
  }
  const apiVersion = doc.apiVersion;
  if ((apiVersion !== REVIEW_V1 && apiVersion !== REVIEW_V1BETA1) || doc.kind !== 'AdmissionReview') {
    throw new TollgateError(
      'TOLLGATE_ERR_ADMISSION_BAD_GVK',
      `unsupported group version kind ${echo(apiVersion)}/${echo(doc.kind)}: expected admission.k8s.io/v1 or v1beta1 AdmissionReview`,
    );
  }
  const r = doc.request;
  if (!isRecord(r)) {
    throw new TollgateError('TOLLGATE_ERR_ADMISSION_NO_REQUEST', 'AdmissionReview has no request');
  }
  if (typeof r.uid !== 'string' || r.uid.length === 0) {
    throw new TollgateError('TOLLGATE_ERR_ADMISSION_NO_UID', 'request.uid must be a non-empty string');
  }
  const op = r.operation;
  if (typeof op !== 'string' || !OPERATIONS.includes(op as Operation)) {
    throw bad('operation', `one of ${OPERATIONS.join(', ')}`);
  }
  // One literal, optional fields assigned after: spreading conditional objects here would give every
  // request a dictionary-mode object, and every policy reading it would pay for that.
  const request: Mutable<AdmissionRequest> = {
    uid: r.uid,
    kind: gvk(r, 'kind', true)!,
    resource: gvr(r, 'resource', false) ?? { group: '', version: '', resource: '' },
    operation: op as Operation,
    userInfo: userInfo(r),
    object: object(r, 'object'),
    oldObject: object(r, 'oldObject'),
    dryRun: r.dryRun === true,
    options: r.options ?? null,
  };
  const subResource = optString(r, 'subResource');
  if (subResource !== undefined) request.subResource = subResource;
  const requestKind = gvk(r, 'requestKind', false);
  if (requestKind !== undefined) request.requestKind = requestKind;
  const requestResource = gvr(r, 'requestResource', false);
  if (requestResource !== undefined) request.requestResource = requestResource;
  const requestSubResource = optString(r, 'requestSubResource');
  if (requestSubResource !== undefined) request.requestSubResource = requestSubResource;
  const name = optString(r, 'name');
  if (name !== undefined) request.name = name;
  const namespace = optString(r, 'namespace');
  if (namespace !== undefined) request.namespace = namespace;
  return { apiVersion: apiVersion as ReviewApiVersion, request };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Deepest nesting accepted in a request body. V8's JSON.parse takes any depth, but everything recursive
 * after it (structuredClone, JSON.stringify, the patch diff, policies) overflows the stack somewhere
 * past a few thousand levels; the API server's own decoder stops at 10000. Real objects stay far below.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Whether a parsed JSON value nests arrays/objects deeper than `limit` (the value itself is level 1).
 * Iterative, so it cannot overflow; it visits containers only, a small fraction of JSON.parse's cost.
 */
export function nestsDeeperThan(root: unknown, limit: number): boolean {
  if (typeof root !== 'object' || root === null) return false;
  const nodes: object[] = [root];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > limit) return true;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const child = node[key];
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

/** Decode raw request bytes (UTF-8 JSON). JSON.parse is the only parser: `__proto__` becomes an own key. */
export function decodeReview(body: Uint8Array | string): AdmissionReview {
  const text = typeof body === 'string' ? body : decoder.decode(body);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? e.message : 'parse error';
    throw new TollgateError('TOLLGATE_ERR_ADMISSION_BAD_JSON', `request body is not valid JSON: ${detail}`);
  }
  if (nestsDeeperThan(doc, MAX_JSON_DEPTH)) {
    throw new TollgateError(
      'TOLLGATE_ERR_ADMISSION_BAD_JSON',
      `request body nests deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  return narrowReview(doc);
}

/** Best effort: the uid and apiVersion of a body that failed narrowing, so an error can still be tied to it. */
export function peekUid(doc: unknown): string | undefined {
  if (isRecord(doc) && isRecord(doc.request) && typeof doc.request.uid === 'string') return doc.request.uid;
  return undefined;
}
