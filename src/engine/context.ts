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
 * What every binding's ctx would compute alike for one request, computed once: the container and pod
 * spec lists of each object a policy sees (the request's object, or the pod template seen as a Pod).
 * Only for validation, where nothing changes the objects between policies. Lists are handed out as
 * copies of frozen entries, so one policy cannot change what the next one sees.
 */
export class RequestMemo {
  private readonly containerLists = new Map<object, Map<string, readonly ContainerRef[]>>();
  private readonly podLists = new Map<object, readonly PodSpecRef[]>();
  private readonly templates = new Map<KubeObject, Map<string, KubeObject | null>>();

  containers(object: object, key: string, make: () => ContainerRef[]): ContainerRef[] {
    let byKey = this.containerLists.get(object);
    if (byKey === undefined) {
      byKey = new Map();
      this.containerLists.set(object, byKey);
    }
    let list = byKey.get(key);
    if (list === undefined) {
      // The pod spec a container points to is shared between containers: frozen too.
      list = make().map((c) => {
        Object.freeze(c.pod);
        return Object.freeze(c);
      });
      byKey.set(key, list);
    }
    return list.slice();
  }

  podSpecs(object: object, make: () => PodSpecRef[]): PodSpecRef[] {
    let list = this.podLists.get(object);
    if (list === undefined) {
      list = make().map((p) => Object.freeze(p));
      this.podLists.set(object, list);
    }
    return list.slice();
  }

  /** templateAsPod, once per object and template path: the same view object for every binding. */
  template(object: KubeObject | null, path: readonly string[]): KubeObject | null {
    if (object === null) return null;
    let byPath = this.templates.get(object);
    if (byPath === undefined) {
      byPath = new Map();
      this.templates.set(object, byPath);
    }
    const key = path.join('.');
    let view = byPath.get(key);
    if (view === undefined) {
      view = templateAsPod(object, path);
      byPath.set(key, view);
    }
    return view;
  }
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
    const make = () => podSpecs(this.object).map((p) => this.prefixPod(p));
    return this.memo !== undefined && this.object !== null ? this.memo.podSpecs(this.object, make) : make();
  }

  containers(types?: readonly ContainerType[]): ContainerRef[] {
    if (this.memo === undefined || this.object === null) return this.listContainers(types);
    return this.memo.containers(this.object, types === undefined ? '*' : types.join(','), () =>
      this.listContainers(types),
    );
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
