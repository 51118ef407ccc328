import { pathToFileURL } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { OPERATIONS, type Operation } from '../admission/types.js';
import { TollgateError } from '../errors.js';
import { isPolicy } from '../sdk/index.js';
import { POD_CONTROLLER_GROUPS, POD_TEMPLATE_PATHS } from '../sdk/pod-specs.js';
import type { Inventory, PolicyMatch } from '../sdk/types.js';
import {
  describeLocation,
  isBindingDocument,
  MAX_TIMEOUT_MS,
  parseBinding,
  validTimeout,
} from './bindings.js';
import { createInventory, deepFreeze } from './inventory.js';
import { compileMatch, type MatchPredicate } from './match.js';
import type { BindingSpec, CompiledPolicy, LoadedPolicy, PolicySetSource, SourceDocument } from './types.js';

/** A binding ready to evaluate: its policy, validated parameters (defaults applied) and match predicate. */
export interface Binding extends BindingSpec {
  readonly loaded: LoadedPolicy;
  readonly params: Readonly<Record<string, unknown>>;
  readonly matches: MatchPredicate;
  readonly kinds: readonly { readonly apiGroups: readonly string[]; readonly kinds: readonly string[] }[];
  readonly operations: readonly Operation[];
}

/** One binding as found for a request: `template` is set when it runs through pod-controller autogen. */
export interface Candidate {
  readonly binding: Binding;
  readonly template: readonly string[] | undefined;
}

export interface PolicySet {
  readonly policies: ReadonlyMap<string, LoadedPolicy>;
  readonly bindings: readonly Binding[];
  readonly inventory: Inventory;
  /** Bindings whose kinds and operations cover this request, in load order. */
  candidates(group: string, kind: string, operation: Operation): readonly Candidate[];
}

const DEFAULT_MATCH: Required<PolicyMatch> = {
  kinds: [{ apiGroups: [''], kinds: ['Pod'] }],
  operations: ['CREATE', 'UPDATE'],
};

function loadedFrom(mod: Record<string, unknown>, compiled: CompiledPolicy): LoadedPolicy {
  const p = mod.default;
  if (!isPolicy(p)) {
    throw new TollgateError(
      'TOLLGATE_ERR_POLICY_INVALID',
      `${compiled.source} must default-export definePolicy({...}) from 'tollgate/sdk'`,
      { file: compiled.source },
    );
  }
  if (p.parameters !== undefined && (typeof p.parameters !== 'object' || p.parameters === null)) {
    throw new TollgateError(
      'TOLLGATE_ERR_POLICY_INVALID',
      `${compiled.source}: parameters must be a JSON Schema object`,
    );
  }
  if (p.timeoutMs !== undefined && !validTimeout(p.timeoutMs)) {
    throw new TollgateError(
      'TOLLGATE_ERR_POLICY_INVALID',
      `${compiled.source}: timeoutMs must be a number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS}`,
      { file: compiled.source },
    );
  }
  return {
    name: p.name,
    description: p.description ?? '',
    aliases: p.aliases ?? [],
    parameters: p.parameters,
    match: {
      kinds: p.match?.kinds ?? DEFAULT_MATCH.kinds,
      operations: p.match?.operations ?? DEFAULT_MATCH.operations,
    },
    autogen: p.autogen ?? true,
    timeoutMs: p.timeoutMs,
    validate: p.validate,
    mutate: p.mutate,
    source: compiled.source,
  };
}

/** Import each compiled bundle (by file URL; content-addressed, so unchanged code is never re-imported). */
export async function importPolicies(compiled: readonly CompiledPolicy[]): Promise<LoadedPolicy[]> {
  return Promise.all(
    compiled.map(async (c) => {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(pathToFileURL(c.bundle).href)) as Record<string, unknown>;
      } catch (e) {
        throw new TollgateError(
          'TOLLGATE_ERR_POLICY_COMPILE',
          `policy ${c.source} failed to load: ${(e as Error).message}`,
          { file: c.source },
        );
      }
      return loadedFrom(mod, c);
    }),
  );
}

function formatAjvErrors(errors: readonly ErrorObject[]): string[] {
  return errors.map((e) => {
    const path = `spec.parameters${e.instancePath.replace(/\/([^/]+)/g, (_, t: string) => (/^\d+$/.test(t) ? `[${t}]` : `.${t.replace(/~1/g, '/').replace(/~0/g, '~')}`))}`;
    const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
    return `${path}: ${e.message ?? e.keyword}${extra}`;
  });
}

/** Gatekeeper's kinds semantics: an absent or empty apiGroups/kinds list in a selector means any. */
function expandKinds(k: PolicyMatch['kinds']): { apiGroups: string[]; kinds: string[] }[] {
  const any = (l: readonly string[] | undefined) => (l === undefined || l.length === 0 ? ['*'] : [...l]);
  return (k ?? []).map((s) => ({ apiGroups: any(s.apiGroups), kinds: any(s.kinds) }));
}

/**
 * Build a policy set from plain sources: import policies, parse and validate bindings (parameters against
 * each policy's schema, with defaults), load inventory, and index bindings by kind and operation.
 * Every problem is a load error naming file, document and path; nothing is left to request time.
 */
export async function buildPolicySet(source: PolicySetSource): Promise<PolicySet> {
  const loaded = await importPolicies(source.policies);
  const policies = new Map<string, LoadedPolicy>();
  const byName = new Map<string, LoadedPolicy>();
  for (const p of loaded) {
    for (const n of [p.name, ...p.aliases]) {
      const prev = byName.get(n.toLowerCase());
      if (prev !== undefined) {
        throw new TollgateError(
          'TOLLGATE_ERR_POLICY_DUPLICATE',
          `policy name ${n} is defined by both ${prev.source} and ${p.source}`,
        );
      }
      byName.set(n.toLowerCase(), p);
    }
    policies.set(p.name, p);
  }
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false });
  const validators = new Map<LoadedPolicy, ValidateFunction>();
  const validatorFor = (p: LoadedPolicy): ValidateFunction => {
    let v = validators.get(p);
    if (v === undefined) {
      try {
        v = ajv.compile(p.parameters ?? { type: 'object' });
      } catch (e) {
        throw new TollgateError(
          'TOLLGATE_ERR_POLICY_INVALID',
          `${p.source}: parameters schema is invalid: ${(e as Error).message}`,
        );
      }
      validators.set(p, v);
    }
    return v;
  };
  const bindings: Binding[] = [];
  const names = new Map<string, BindingSpec>();
  for (const doc of source.bindings) {
    const spec = parseBinding(doc);
    const policy = byName.get(spec.policy.toLowerCase());
    if (policy === undefined) {
      const available = [...policies.values()].map((p) =>
        p.aliases.length ? `${p.name} (${p.aliases.join(', ')})` : p.name,
      );
      throw new TollgateError(
        'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY',
        `binding ${spec.name} at ${describeLocation(spec.location)} names unknown policy ${JSON.stringify(spec.policy)}; available: ${available.join(', ') || '(none loaded)'}`,
        { file: spec.location.file, doc: spec.location.doc },
      );
    }
    const prev = names.get(spec.name);
    if (prev !== undefined) {
      throw new TollgateError(
        'TOLLGATE_ERR_BINDING_DUPLICATE',
        `binding name ${spec.name} is used at ${describeLocation(prev.location)} and ${describeLocation(spec.location)}`,
      );
    }
    names.set(spec.name, spec);
    const params = structuredClone(spec.parameters) as Record<string, unknown>;
    const validate = validatorFor(policy);
    if (!validate(params)) {
      throw new TollgateError(
        'TOLLGATE_ERR_BINDING_PARAMS',
        `binding ${spec.name} at ${describeLocation(spec.location)}: parameters do not match policy ${policy.name}:\n  ${formatAjvErrors(validate.errors ?? []).join('\n  ')}`,
        { file: spec.location.file, doc: spec.location.doc },
      );
    }
    bindings.push({
      ...spec,
      loaded: policy,
      // Frozen: one object serves every request, so a policy that wrote to ctx.params would leak state.
      params: deepFreeze(params),
      matches: compileMatch(spec.match),
      // An empty `kinds: []` is the same as none: the policy's own default kinds.
      kinds: expandKinds(spec.match?.kinds?.length ? spec.match.kinds : policy.match.kinds),
      operations: spec.match?.operations ?? policy.match.operations,
    });
  }
  const inventory = createInventory(source.data.map((d) => d.value));
  return { policies, bindings, inventory, candidates: createIndex(bindings) };
}

/**
 * Index bindings by `group/kind` and operation, so a request only touches the bindings that can match it.
 * Pod bindings of autogen policies are also filed under the pod-controller kinds with their template path.
 */
function createIndex(bindings: readonly Binding[]): PolicySet['candidates'] {
  const exact = new Map<string, Candidate[]>();
  const wildcard: { binding: Binding; groups: readonly string[]; kinds: readonly string[] }[] = [];
  const file = (key: string, c: Candidate) => {
    let l = exact.get(key);
    if (l === undefined) {
      l = [];
      exact.set(key, l);
    }
    const i = l.findIndex((x) => x.binding === c.binding);
    if (i < 0) l.push(c);
    // A kind the binding names explicitly wins over autogen, whatever the order of its kind selectors:
    // with kinds [Pod, Deployment] the policy sees the Deployment itself, not its template as a Pod.
    else if (l[i]!.template !== undefined && c.template === undefined) l[i] = c;
  };
  bindings.forEach((b) => {
    for (const sel of b.kinds) {
      if (sel.apiGroups.includes('*') || sel.kinds.includes('*')) {
        wildcard.push({ binding: b, groups: sel.apiGroups, kinds: sel.kinds });
      }
      for (const g of sel.apiGroups) {
        if (g === '*') continue;
        for (const k of sel.kinds) if (k !== '*') file(`${g}/${k}`, { binding: b, template: undefined });
      }
      const coversPod =
        (sel.apiGroups.includes('') || sel.apiGroups.includes('*')) && sel.kinds.includes('Pod');
      if (coversPod && b.loaded.autogen) {
        for (const [kind, group] of Object.entries(POD_CONTROLLER_GROUPS)) {
          file(`${group}/${kind}`, { binding: b, template: POD_TEMPLATE_PATHS[kind] });
        }
      }
    }
  });
  const order = new Map(bindings.map((b, i) => [b, i]));
  const cache = new Map<string, readonly Candidate[]>();
  const MAX_CACHE = 4096;
  return (group, kind, operation) => {
    const key = `${operation} ${group}/${kind}`;
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const found = new Map<Binding, Candidate>();
    for (const c of exact.get(`${group}/${kind}`) ?? []) found.set(c.binding, c);
    for (const w of wildcard) {
      // An explicit (wildcard) kind match wins over autogen here too.
      const prev = found.get(w.binding);
      if (prev !== undefined && prev.template === undefined) continue;
      const g = w.groups.includes('*') || w.groups.includes(group);
      const k = w.kinds.includes('*') || w.kinds.includes(kind);
      if (g && k) found.set(w.binding, { binding: w.binding, template: undefined });
    }
    const list = [...found.values()]
      .filter((c) => c.binding.operations.includes(operation))
      .sort((a, b) => (order.get(a.binding) ?? 0) - (order.get(b.binding) ?? 0));
    if (cache.size < MAX_CACHE) cache.set(key, list);
    return list;
  };
}

/** Split documents given with `--config` into bindings and everything else (treated as data). */
export function splitDocuments(docs: readonly SourceDocument[]): {
  bindings: SourceDocument[];
  data: SourceDocument[];
} {
  const bindings: SourceDocument[] = [];
  const data: SourceDocument[] = [];
  for (const d of docs) (isBindingDocument(d.value) ? bindings : data).push(d);
  return { bindings, data };
}

export { OPERATIONS };
