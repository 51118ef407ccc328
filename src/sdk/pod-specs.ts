import type { Container, EphemeralContainer, PodSpec } from 'kubernetes-types/core/v1.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** Where each workload kind keeps its pod template (autogen and helpers share this table). */
export const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  PodTemplate: ['template'],
};

/** The API group of each workload kind above, so matching can expand `Pod` to all of them. */
export const POD_CONTROLLER_GROUPS: Readonly<Record<string, string>> = {
  Deployment: 'apps',
  ReplicaSet: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  Job: 'batch',
  CronJob: 'batch',
  ReplicationController: '',
};

export interface PodSpecRef {
  /** Field path of the pod spec, e.g. `spec` for a Pod, `spec.template.spec` for a Deployment. */
  readonly path: string;
  /** Field path of the pod metadata (`metadata`, `spec.template.metadata`). */
  readonly metadataPath: string;
  readonly spec: PodSpec;
  readonly metadata: ObjectMeta | undefined;
}

export type ContainerType = 'containers' | 'initContainers' | 'ephemeralContainers';
export const CONTAINER_TYPES: readonly ContainerType[] = [
  'containers',
  'initContainers',
  'ephemeralContainers',
];

export interface ContainerRef {
  readonly type: ContainerType;
  readonly index: number;
  /** e.g. `spec.initContainers[0]`; append `.image` for the image field. */
  readonly path: string;
  readonly name: string;
  readonly image: string;
  readonly container: Container | EphemeralContainer;
  readonly pod: PodSpecRef;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The pod template of a workload object (`{metadata, spec}`), with its path; undefined when absent. */
export function podTemplateOf(
  object: unknown,
): { template: Record<string, unknown>; path: readonly string[] } | undefined {
  if (!isRecord(object) || typeof object.kind !== 'string') return undefined;
  const path = POD_TEMPLATE_PATHS[object.kind];
  if (path === undefined) return undefined;
  let node: unknown = object;
  for (const key of path) {
    if (!isRecord(node)) return undefined;
    node = node[key];
  }
  return isRecord(node) ? { template: node, path } : undefined;
}

/** All pod specs of an object: a Pod's own spec, or the pod template of a workload kind. */
export function podSpecs(object: unknown): PodSpecRef[] {
  const t = podTemplateOf(object);
  if (t === undefined || !isRecord(t.template.spec)) return [];
  const prefix = t.path.length === 0 ? '' : `${t.path.join('.')}.`;
  const metadata = t.template.metadata;
  return [
    {
      path: `${prefix}spec`,
      metadataPath: `${prefix}metadata`,
      spec: t.template.spec as unknown as PodSpec,
      metadata: isRecord(metadata) ? (metadata as ObjectMeta) : undefined,
    },
  ];
}

/** Every container (regular, init and ephemeral) of every pod spec of the object, with field paths. */
export function containers(
  object: unknown,
  types: readonly ContainerType[] = CONTAINER_TYPES,
): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const pod of podSpecs(object)) {
    for (const type of types) {
      const list = (pod.spec as unknown as Record<string, unknown>)[type];
      if (!Array.isArray(list)) continue;
      list.forEach((c: unknown, index: number) => {
        if (!isRecord(c)) return;
        out.push({
          type,
          index,
          path: `${pod.path}.${type}[${index}]`,
          name: typeof c.name === 'string' ? c.name : '',
          image: typeof c.image === 'string' ? c.image : '',
          container: c as unknown as Container,
          pod,
        });
      });
    }
  }
  return out;
}
