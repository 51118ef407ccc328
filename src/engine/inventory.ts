import type { KubeObject } from '../admission/types.js';
import type { Inventory } from '../sdk/types.js';

const EMPTY: readonly KubeObject[] = Object.freeze([]);

function isObject(v: unknown): v is KubeObject {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as KubeObject).kind === 'string'
  );
}

/**
 * Cluster objects from `--data`, indexed by kind and by namespace/name; frozen (objects and the lists
 * `list()` returns) so a policy can neither change them nor leak state from one request to the next.
 */
export function createInventory(objects: readonly unknown[]): Inventory {
  const byKind = new Map<string, KubeObject[]>();
  const byName = new Map<string, KubeObject>();
  const ns = (o: KubeObject) =>
    typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : undefined;
  // Kind, namespace and name joined by a character none of them can contain.
  const key = (kind: string, name: unknown, namespace: string | undefined) =>
    `${kind}\u0000${namespace ?? ''}\u0000${String(name)}`;
  for (const o of objects) {
    if (!isObject(o)) continue;
    deepFreeze(o);
    const kind = o.kind as string;
    let list = byKind.get(kind);
    if (list === undefined) {
      list = [];
      byKind.set(kind, list);
    }
    list.push(o);
    const k = key(kind, o.metadata?.name, ns(o));
    if (typeof o.metadata?.name === 'string' && !byName.has(k)) byName.set(k, o);
  }
  for (const list of byKind.values()) Object.freeze(list);
  return {
    list(kind, opts = {}) {
      const all = byKind.get(kind) ?? EMPTY;
      if (opts.apiVersion === undefined && opts.namespace === undefined) return all;
      return Object.freeze(
        all.filter(
          (o) =>
            (opts.apiVersion === undefined || o.apiVersion === opts.apiVersion) &&
            (opts.namespace === undefined || ns(o) === opts.namespace),
        ),
      );
    },
    get(kind, name, namespace) {
      return byName.get(key(kind, name, namespace));
    },
    namespace(name) {
      return byName.get(key('Namespace', name, undefined));
    },
  };
}

export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
