import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import type { Inventory } from '../sdk/types.js';
import type { LabelSelector, MatchSpec } from './types.js';

/**
 * Gatekeeper's namespace/name globs (pkg/wildcard): `prefix*`, `*suffix`, `*infix*`, or an exact name.
 */
export function globMatch(pattern: string, value: string): boolean {
  const front = pattern.startsWith('*');
  const back = pattern.length > 1 && pattern.endsWith('*');
  if (front && back) return value.includes(pattern.slice(1, -1));
  if (pattern === '*') return true;
  if (front) return value.endsWith(pattern.slice(1));
  if (back) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

/**
 * Whether a name pattern can match the name the API server will generate from `generateName` (a prefix):
 * only `prefix*` and `*infix*` patterns can tell (Gatekeeper's MatchesGenerateName).
 */
export function globMatchesGenerateName(pattern: string, generateName: string): boolean {
  const front = pattern.startsWith('*');
  const back = pattern.length > 1 && pattern.endsWith('*');
  if (front && back) return generateName.includes(pattern.slice(1, -1));
  if (back && !front) return generateName.startsWith(pattern.slice(0, -1));
  return false;
}

function anyGlob(patterns: readonly string[], value: string): boolean {
  for (const p of patterns) if (globMatch(p, value)) return true;
  return false;
}

function labelsOf(o: KubeObject | null | undefined): Readonly<Record<string, unknown>> {
  const l = o?.metadata?.labels;
  return typeof l === 'object' && l !== null ? l : {};
}

/** Kubernetes label selector semantics (matchLabels AND matchExpressions). */
export function selectorMatches(sel: LabelSelector, labels: Readonly<Record<string, unknown>>): boolean {
  const has = (k: string) => Object.hasOwn(labels, k);
  if (sel.matchLabels) {
    for (const [k, v] of Object.entries(sel.matchLabels)) if (!has(k) || labels[k] !== v) return false;
  }
  for (const req of sel.matchExpressions ?? []) {
    const present = has(req.key);
    // Label values are strings; anything else (possible in a hand-made request) equals no listed value.
    const raw = present ? labels[req.key] : undefined;
    const value = typeof raw === 'string' ? raw : undefined;
    switch (req.operator) {
      case 'In':
        if (value === undefined || !(req.values ?? []).includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && (req.values ?? []).includes(value)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
    }
  }
  return true;
}

/** The object's name from the request or the objects; only a string counts (the objects are unchecked JSON). */
function nameOf(req: AdmissionRequest): string | undefined {
  for (const n of [req.name, req.object?.metadata?.name, req.oldObject?.metadata?.name]) {
    if (typeof n === 'string') return n;
  }
  return undefined;
}

/**
 * A match block compiled to a predicate. Kinds and operations are handled by the index; this checks the
 * rest, in Gatekeeper's semantics: an object without a namespace is cluster-scoped and is not filtered by
 * `namespaces`/`excludedNamespaces`/`namespaceSelector`; a Namespace object is its own namespace.
 */
export type MatchPredicate = (req: AdmissionRequest, inventory: Inventory) => boolean;

export function compileMatch(m: MatchSpec | undefined): MatchPredicate {
  if (m === undefined) return () => true;
  const checks: MatchPredicate[] = [];
  const nsOf = (req: AdmissionRequest): string | undefined => {
    if (req.kind.kind === 'Namespace' && req.kind.group === '') {
      return nameOf(req);
    }
    return req.namespace || undefined;
  };
  const { namespaces, excludedNamespaces, labelSelector, namespaceSelector, scope, name, users, groups } = m;
  // An empty list restricts nothing (Gatekeeper: `len(match.Namespaces) == 0` matches everything).
  if (namespaces !== undefined && namespaces.length > 0) {
    checks.push((req) => {
      const ns = nsOf(req);
      return ns === undefined || anyGlob(namespaces, ns);
    });
  }
  if (excludedNamespaces !== undefined && excludedNamespaces.length > 0) {
    checks.push((req) => {
      const ns = nsOf(req);
      return ns === undefined || !anyGlob(excludedNamespaces, ns);
    });
  }
  if (scope !== undefined && scope !== '*') {
    checks.push((req) => {
      const namespaced = !!req.namespace && !(req.kind.kind === 'Namespace' && req.kind.group === '');
      return scope === 'Namespaced' ? namespaced : !namespaced;
    });
  }
  // Gatekeeper: a blank name means any name.
  if (name !== undefined && name !== '') {
    checks.push((req) => {
      const n = nameOf(req);
      // No name yet is the empty name, as in Gatekeeper (only `*` matches it).
      if (globMatch(name, n ?? '')) return true;
      // CREATE with generateName: the final name starts with it (Gatekeeper matches either).
      const gen = req.object?.metadata?.generateName;
      return typeof gen === 'string' && gen !== '' && globMatchesGenerateName(name, gen);
    });
  }
  if (labelSelector !== undefined) {
    // As the API server's objectSelector: matches if the new or the old object matches.
    checks.push(
      (req) =>
        (req.object !== null && selectorMatches(labelSelector, labelsOf(req.object))) ||
        (req.oldObject !== null && selectorMatches(labelSelector, labelsOf(req.oldObject))),
    );
  }
  if (namespaceSelector !== undefined) {
    checks.push((req, inventory) => {
      if (req.kind.kind === 'Namespace' && req.kind.group === '') {
        return selectorMatches(namespaceSelector, labelsOf(req.object ?? req.oldObject));
      }
      const ns = nsOf(req);
      if (ns === undefined) return true;
      const nsObj = inventory.namespace(ns);
      return nsObj !== undefined && selectorMatches(namespaceSelector, labelsOf(nsObj));
    });
  }
  if (users !== undefined && users.length > 0) {
    checks.push((req) => anyGlob(users, req.userInfo.username ?? ''));
  }
  if (groups !== undefined && groups.length > 0) {
    checks.push((req) => (req.userInfo.groups ?? []).some((g) => anyGlob(groups, g)));
  }
  if (checks.length === 0) return () => true;
  return (req, inv) => {
    for (const c of checks) if (!c(req, inv)) return false;
    return true;
  };
}
