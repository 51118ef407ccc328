import type { KubeObject } from '../admission/types.js';
import type { Inventory } from '../sdk/types.js';

const EMPTY: readonly KubeObject[] = Object.freeze([]);

function isObject(v: unknown): v is KubeObject {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as KubeObject).kind === 'string'
  );
}

/** Cluster objects from `--data`, indexed by kind; frozen so policies cannot change them. */
export function createInventory(objects: readonly unknown[]): Inventory {
  const byKind = new Map<string, KubeObject[]>();
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
  }
  const ns = (o: KubeObject) =>
    typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : undefined;
  return {
    list(kind, opts = {}) {
      const all = byKind.get(kind) ?? EMPTY;
      if (opts.apiVersion === undefined && opts.namespace === undefined) return all;
      return all.filter(
        (o) =>
          (opts.apiVersion === undefined || o.apiVersion === opts.apiVersion) &&
          (opts.namespace === undefined || ns(o) === opts.namespace),
      );
    },
    get(kind, name, namespace) {
      return (byKind.get(kind) ?? EMPTY).find((o) => o.metadata?.name === name && ns(o) === namespace);
    },
    namespace(name) {
      return (byKind.get('Namespace') ?? EMPTY).find((o) => o.metadata?.name === name);
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
