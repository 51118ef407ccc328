import { OPERATIONS, type Operation } from '../admission/types.js';
import { TollgateError } from '../errors.js';
import {
  type BindingSpec,
  ENFORCEMENT_ACTIONS,
  type EnforcementAction,
  FAILURE_POLICIES,
  type FailurePolicy,
  type LabelSelectorRequirement,
  type MatchSpec,
  type SourceDocument,
  type SourceLocation,
} from './types.js';

export const BINDING_API_VERSION = 'tollgate.dev/v1alpha1';

/**
 * Longest policy timeout: the API server never waits longer for a webhook (timeoutSeconds is 1–30), and
 * setTimeout would fire at once for anything past 2^31 ms.
 */
export const MAX_TIMEOUT_MS = 30_000;

export function validTimeout(v: unknown): v is number {
  return typeof v === 'number' && v > 0 && v <= MAX_TIMEOUT_MS;
}
export const BINDING_KIND = 'Binding';
const CONSTRAINT_GROUP = 'constraints.gatekeeper.sh/';

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function where(loc: SourceLocation): string {
  return `${loc.file}:${loc.line} (document ${loc.doc + 1})`;
}

class Problems {
  readonly list: string[] = [];
  constructor(readonly loc: SourceLocation) {}
  add(path: string, msg: string): void {
    this.list.push(`${path}: ${msg}`);
  }
  throwIfAny(): void {
    if (this.list.length > 0) {
      throw new TollgateError(
        'TOLLGATE_ERR_BINDING_INVALID',
        `invalid binding at ${where(this.loc)}:\n  ${this.list.join('\n  ')}`,
        { file: this.loc.file, doc: this.loc.doc, paths: this.list },
      );
    }
  }
}

function stringList(p: Problems, path: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    p.add(path, 'must be a list of strings');
    return undefined;
  }
  return v as string[];
}

function labelSelector(p: Problems, path: string, v: unknown): MatchSpec['labelSelector'] {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) {
    p.add(path, 'must be a label selector {matchLabels, matchExpressions}');
    return undefined;
  }
  const out: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } = {};
  if (v.matchLabels !== undefined) {
    if (!isRecord(v.matchLabels) || Object.values(v.matchLabels).some((x) => typeof x !== 'string')) {
      p.add(`${path}.matchLabels`, 'must map label keys to string values');
    } else out.matchLabels = v.matchLabels as Record<string, string>;
  }
  if (v.matchExpressions !== undefined) {
    if (!Array.isArray(v.matchExpressions)) p.add(`${path}.matchExpressions`, 'must be a list');
    else {
      const exprs: LabelSelectorRequirement[] = [];
      for (const [i, e] of (v.matchExpressions as unknown[]).entries()) {
        const ep = `${path}.matchExpressions[${i}]`;
        if (!isRecord(e) || typeof e.key !== 'string') {
          p.add(ep, 'must have a string key');
          continue;
        }
        if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator as string)) {
          p.add(`${ep}.operator`, 'must be In, NotIn, Exists or DoesNotExist');
          continue;
        }
        const values = stringList(p, `${ep}.values`, e.values);
        if (
          (e.operator === 'In' || e.operator === 'NotIn') &&
          (values === undefined || values.length === 0)
        ) {
          p.add(`${ep}.values`, `must be a non-empty list for ${e.operator}`);
          continue;
        }
        exprs.push({ key: e.key, operator: e.operator as 'In', ...(values ? { values } : {}) });
      }
      out.matchExpressions = exprs;
    }
  }
  return out;
}

export function parseMatch(p: Problems, path: string, v: unknown): MatchSpec | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) {
    p.add(path, 'must be an object');
    return undefined;
  }
  const known = new Set([
    'kinds',
    'namespaces',
    'excludedNamespaces',
    'labelSelector',
    'namespaceSelector',
    'scope',
    'name',
    'operations',
    'users',
    'groups',
    'source',
  ]);
  for (const k of Object.keys(v)) if (!known.has(k)) p.add(`${path}.${k}`, 'unknown field');
  const m: { -readonly [K in keyof MatchSpec]: MatchSpec[K] } = {};
  if (v.kinds !== undefined) {
    if (!Array.isArray(v.kinds)) p.add(`${path}.kinds`, 'must be a list of {apiGroups, kinds}');
    else {
      m.kinds = v.kinds.map((k: unknown, i: number) => {
        if (!isRecord(k)) {
          p.add(`${path}.kinds[${i}]`, 'must be {apiGroups, kinds}');
          return {};
        }
        const apiGroups = stringList(p, `${path}.kinds[${i}].apiGroups`, k.apiGroups);
        const kinds = stringList(p, `${path}.kinds[${i}].kinds`, k.kinds);
        return { ...(apiGroups ? { apiGroups } : {}), ...(kinds ? { kinds } : {}) };
      });
    }
  }
  for (const f of ['namespaces', 'excludedNamespaces', 'users', 'groups'] as const) {
    const l = stringList(p, `${path}.${f}`, v[f]);
    if (l !== undefined) m[f] = l;
  }
  const ops = stringList(p, `${path}.operations`, v.operations);
  if (ops !== undefined) {
    const bad = ops.filter((o) => o !== '*' && !OPERATIONS.includes(o as Operation));
    if (bad.length > 0)
      p.add(`${path}.operations`, `unknown operation ${bad.join(', ')}; use ${OPERATIONS.join(', ')} or *`);
    m.operations = ops.includes('*') ? [...OPERATIONS] : (ops as Operation[]);
  }
  const ls = labelSelector(p, `${path}.labelSelector`, v.labelSelector);
  if (ls !== undefined) m.labelSelector = ls;
  const ns = labelSelector(p, `${path}.namespaceSelector`, v.namespaceSelector);
  if (ns !== undefined) m.namespaceSelector = ns;
  if (v.scope !== undefined) {
    if (v.scope !== '*' && v.scope !== 'Cluster' && v.scope !== 'Namespaced')
      p.add(`${path}.scope`, 'must be *, Cluster or Namespaced');
    else m.scope = v.scope;
  }
  if (v.name !== undefined) {
    if (typeof v.name !== 'string') p.add(`${path}.name`, 'must be a string');
    else m.name = v.name;
  }
  return m;
}

function enumField<T extends string>(
  p: Problems,
  path: string,
  v: unknown,
  allowed: readonly T[],
  dflt: T,
): T {
  if (v === undefined || v === null) return dflt;
  // Gatekeeper accepts any case for enforcementAction (`Deny`, `dryrun`).
  const s = typeof v === 'string' ? v.toLowerCase() : v;
  if (typeof s !== 'string' || !allowed.includes(s as T)) {
    p.add(path, `must be one of ${allowed.join(', ')}`);
    return dflt;
  }
  return s as T;
}

/** Whether a document is a binding (Tollgate Binding or Gatekeeper constraint) rather than data. */
export function isBindingDocument(v: unknown): boolean {
  if (!isRecord(v) || typeof v.apiVersion !== 'string') return false;
  return (
    (v.apiVersion === BINDING_API_VERSION && v.kind === BINDING_KIND) ||
    v.apiVersion.startsWith(CONSTRAINT_GROUP)
  );
}

const BINDING_SPEC_FIELDS = new Set([
  'policy',
  'parameters',
  'match',
  'enforcementAction',
  'failurePolicy',
  'timeoutMs',
]);

/**
 * Parse one document: a Tollgate Binding (`tollgate.dev/v1alpha1`, `spec.policy`) or a Gatekeeper
 * constraint (`constraints.gatekeeper.sh/*`, `kind` = the policy name or alias), accepted unchanged.
 */
export function parseBinding(doc: SourceDocument): BindingSpec {
  const p = new Problems(doc.location);
  const v = doc.value;
  if (!isRecord(v)) {
    p.add('$', 'must be an object');
    p.throwIfAny();
  }
  const d = v as Json;
  const isConstraint = typeof d.apiVersion === 'string' && d.apiVersion.startsWith(CONSTRAINT_GROUP);
  if (!isConstraint && (d.apiVersion !== BINDING_API_VERSION || d.kind !== BINDING_KIND)) {
    p.add(
      '$',
      `expected apiVersion ${BINDING_API_VERSION} kind ${BINDING_KIND}, or a constraints.gatekeeper.sh constraint`,
    );
    p.throwIfAny();
  }
  const meta = isRecord(d.metadata) ? d.metadata : {};
  const name = meta.name;
  if (typeof name !== 'string' || name === '') p.add('metadata.name', 'is required');
  const spec = d.spec === undefined || d.spec === null ? {} : d.spec;
  if (!isRecord(spec)) p.add('spec', 'must be an object');
  const s = isRecord(spec) ? spec : {};
  // A misspelt field of a Binding (`enforcmentAction: warn`) would silently leave the default in force.
  // Constraints are Gatekeeper's own documents, taken unchanged: their other fields are Gatekeeper's.
  if (!isConstraint) {
    for (const k of Object.keys(s)) {
      if (!BINDING_SPEC_FIELDS.has(k)) {
        p.add(`spec.${k}`, `unknown field; a Binding's spec has ${[...BINDING_SPEC_FIELDS].join(', ')}`);
      }
    }
  }
  let policy = '';
  if (isConstraint) {
    if (typeof d.kind !== 'string' || d.kind === '') p.add('kind', 'must name the policy');
    else policy = d.kind;
  } else if (typeof s.policy !== 'string' || s.policy === '') {
    p.add('spec.policy', 'must name a policy');
  } else policy = s.policy;
  const params = s.parameters ?? {};
  if (!isRecord(params)) p.add('spec.parameters', 'must be an object');
  const match = parseMatch(p, 'spec.match', s.match);
  const enforcementAction = enumField(
    p,
    'spec.enforcementAction',
    s.enforcementAction,
    ENFORCEMENT_ACTIONS,
    'deny',
  );
  const failurePolicy: FailurePolicy = enumField(
    p,
    'spec.failurePolicy',
    s.failurePolicy,
    FAILURE_POLICIES,
    'deny',
  );
  let timeoutMs: number | undefined;
  if (s.timeoutMs !== undefined && s.timeoutMs !== null) {
    if (!validTimeout(s.timeoutMs)) {
      p.add('spec.timeoutMs', `must be a number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS}`);
    } else timeoutMs = s.timeoutMs;
  }
  p.throwIfAny();
  return {
    name: name as string,
    policy,
    parameters: isRecord(params) ? params : {},
    match,
    enforcementAction: enforcementAction as EnforcementAction,
    failurePolicy,
    timeoutMs,
    location: doc.location,
  };
}

export { where as describeLocation };
