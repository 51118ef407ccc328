import type { AdmissionRequest, KubeObject } from '../admission/types.js';
import { parseImage } from '../sdk/images.js';
import {
  type ContainerRef,
  type ContainerType,
  containers,
  type PodSpecRef,
  podSpecs,
} from '../sdk/pod-specs.js';
import type { Inventory, PolicyContext, RequestInfo } from '../sdk/types.js';

export function requestInfo(r: AdmissionRequest): RequestInfo {
  return {
    uid: r.uid,
    operation: r.operation,
    kind: r.kind,
    resource: r.resource,
    subResource: r.subResource,
    requestKind: r.requestKind ?? r.kind,
    requestResource: r.requestResource ?? r.resource,
    namespace: r.namespace,
    name: r.name,
    userInfo: r.userInfo,
    dryRun: r.dryRun,
  };
}

function prefixed<T extends { path: string }>(items: T[], prefix: string): T[] {
  if (prefix === '') return items;
  return items.map((i) => ({ ...i, path: `${prefix}.${i.path}` }));
}

/**
 * What every binding's ctx would compute alike for one request, computed once per object a policy sees
 * (the request's object, or the pod template seen as a Pod): its container and pod-spec lists and its
 * template views. Only for validation, where nothing changes the objects between policies.
 */
export class RequestMemo {
  /** Keys are strings, or an object standing for itself (a template path: no key string per lookup). */
  private readonly byObject = new Map<object, Map<string | object, unknown>>();

  get<T>(object: object, key: string | object): T | undefined {
    return this.byObject.get(object)?.get(key) as T | undefined;
  }

  set<T>(object: object, key: string | object, value: T): T {
    let values = this.byObject.get(object);
    if (values === undefined) {
      values = new Map();
      this.byObject.set(object, values);
    }
    values.set(key, value);
    return value;
  }
}

/**
 * templateAsPod, once per request, object and template path when there is a memo. The path array is the
 * key: candidates carry the shared POD_TEMPLATE_PATHS entries, so bindings of one kind find each other's.
 */
export function templateView(
  memo: RequestMemo | undefined,
  object: KubeObject | null,
  path: readonly string[],
): KubeObject | null {
  if (memo === undefined || object === null) return templateAsPod(object, path);
  const view = memo.get<KubeObject | null>(object, path);
  return view !== undefined ? view : memo.set(object, path, templateAsPod(object, path));
}

/** Entries shared by every binding of a request: frozen, so one policy cannot change what the next sees. */
function frozen<T extends object>(items: T[]): readonly T[] {
  for (const i of items) Object.freeze(i);
  return items;
}

/**
 * The `ctx` a policy receives. Under autogen, `object` is the pod template seen as a Pod and
 * `pathPrefix` (e.g. `spec.template`) makes every helper's field path the real one in the workload.
 */
export class Context implements PolicyContext<Record<string, unknown>> {
  constructor(
    readonly request: RequestInfo,
    readonly object: KubeObject | null,
    readonly oldObject: KubeObject | null,
    readonly params: Record<string, unknown>,
    readonly binding: string,
    readonly inventory: Inventory,
    readonly pathPrefix: string,
    private readonly memo?: RequestMemo,
  ) {}

  podSpecs(): PodSpecRef[] {
    if (this.memo === undefined || this.object === null) return this.listPodSpecs();
    const list =
      this.memo.get<readonly PodSpecRef[]>(this.object, 'podSpecs') ??
      this.memo.set(this.object, 'podSpecs', frozen(this.listPodSpecs()));
    // A copy of the array: a policy may sort or extend what it is handed.
    return list.slice();
  }

  containers(types?: readonly ContainerType[]): ContainerRef[] {
    if (this.memo === undefined || this.object === null) return this.listContainers(types);
    const key = types === undefined ? 'containers' : `containers:${types.join(',')}`;
    let list = this.memo.get<readonly ContainerRef[]>(this.object, key);
    if (list === undefined) {
      const made = this.listContainers(types);
      // The pod spec a container points to is shared between containers: frozen too.
      for (const c of made) Object.freeze(c.pod);
      list = this.memo.set(this.object, key, frozen(made));
    }
    return list.slice();
  }

  private listPodSpecs(): PodSpecRef[] {
    return podSpecs(this.object).map((p) => this.prefixPod(p));
  }

  private listContainers(types: readonly ContainerType[] | undefined): ContainerRef[] {
    if (this.pathPrefix === '') return containers(this.object, types);
    // The pod spec each container points to carries real paths too (`c.pod.path`, `c.pod.metadataPath`).
    const pods = new Map<PodSpecRef, PodSpecRef>();
    return prefixed(containers(this.object, types), this.pathPrefix).map((c) => {
      let pod = pods.get(c.pod);
      if (pod === undefined) {
        pod = this.prefixPod(c.pod);
        pods.set(c.pod, pod);
      }
      return { ...c, pod };
    });
  }

  private prefixPod(p: PodSpecRef): PodSpecRef {
    if (this.pathPrefix === '') return p;
    return {
      ...p,
      path: `${this.pathPrefix}.${p.path}`,
      metadataPath: `${this.pathPrefix}.${p.metadataPath}`,
    };
  }

  parseImage(ref: string) {
    return parseImage(ref);
  }
}

/** A pod template seen as a Pod (metadata and spec are the template's own objects, not copies). */
export function templateAsPod(object: KubeObject | null, path: readonly string[]): KubeObject | null {
  if (object === null) return null;
  let node: unknown = object;
  for (const k of path) {
    if (typeof node !== 'object' || node === null) return null;
    node = (node as Record<string, unknown>)[k];
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return null;
  const t = node as Record<string, unknown>;
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod' };
  if (t.metadata !== undefined) pod.metadata = t.metadata as NonNullable<KubeObject['metadata']>;
  if (t.spec !== undefined) pod.spec = t.spec;
  return pod;
}

/** Write a (mutated) Pod view back into the workload's template. */
export function writeTemplate(object: KubeObject, path: readonly string[], pod: KubeObject): void {
  let node: Record<string, unknown> = object;
  for (const k of path) {
    const next = node[k];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string, unknown>;
  }
  if (pod.metadata !== undefined) node.metadata = pod.metadata;
  else delete node.metadata;
  if (pod.spec !== undefined) node.spec = pod.spec;
}
