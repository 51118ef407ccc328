/**
 * AdmissionReview bodies built from plain manifests, as kube-apiserver would send them, for the offline
 * commands (`scan`, `test`). The result is plain JSON: it goes through the same decode path as a webhook call.
 */
import type { KubeObject, Operation, UserInfo } from '../admission/types.js';

/** Built-in cluster-scoped kinds (and the API groups whose kinds are all cluster-scoped). */
const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ComponentStatus',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'APIService',
  'StorageClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'PriorityClass',
  'RuntimeClass',
  'IngressClass',
  'PodSecurityPolicy',
  'CertificateSigningRequest',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'FlowSchema',
  'PriorityLevelConfiguration',
  'ClusterIssuer',
  'ConstraintTemplate',
]);
const CLUSTER_SCOPED_GROUPS: ReadonlySet<string> = new Set([
  'constraints.gatekeeper.sh',
  'mutations.gatekeeper.sh',
  'config.gatekeeper.sh',
]);

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export function isClusterScoped(group: string, kind: string): boolean {
  return CLUSTER_SCOPED_GROUPS.has(group) || CLUSTER_SCOPED_KINDS.has(kind);
}

/** The resource name the API server would use (`Pod` → `pods`, `Ingress` → `ingresses`, `NetworkPolicy` → `networkpolicies`). */
export function resourceOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k === 'endpoints') return k;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  return `${k}s`;
}

/** A manifest must at least say what it is. */
export function isKubeObject(v: unknown): v is KubeObject & { apiVersion: string; kind: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as KubeObject;
  return (
    typeof o.apiVersion === 'string' && o.apiVersion !== '' && typeof o.kind === 'string' && o.kind !== ''
  );
}

export interface ReviewInput {
  readonly uid: string;
  readonly operation: Operation;
  /** The new object (null for DELETE). */
  readonly object: KubeObject | null;
  /** The old object (UPDATE, DELETE). */
  readonly oldObject: KubeObject | null;
  /** The request namespace; undefined for cluster-scoped objects. */
  readonly namespace: string | undefined;
  readonly userInfo: UserInfo;
  readonly dryRun?: boolean;
}

/** An admission.k8s.io/v1 AdmissionReview for an object (kind and resource from the object itself). */
export function buildReview(input: ReviewInput): Record<string, unknown> {
  const subject = input.object ?? input.oldObject;
  const apiVersion = typeof subject?.apiVersion === 'string' ? subject.apiVersion : 'v1';
  const kind = typeof subject?.kind === 'string' ? subject.kind : '';
  const { group, version } = splitApiVersion(apiVersion);
  const gvk = { group, version, kind };
  const gvr = { group, version, resource: resourceOf(kind) };
  const name = subject?.metadata?.name;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: input.uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      ...(typeof name === 'string' ? { name } : {}),
      ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
      operation: input.operation,
      userInfo: input.userInfo,
      object: input.object,
      oldObject: input.oldObject,
      dryRun: input.dryRun ?? false,
      options: input.operation === 'CREATE' ? { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' } : null,
    },
  };
}

/**
 * The object as `kubectl create` would have it admitted: a namespaced object without a namespace is
 * created in `default` (the API server fills in metadata.namespace before admission); cluster-scoped
 * kinds get none. Returns a copy when the namespace was filled in.
 */
export function asCreated(
  obj: KubeObject & { apiVersion: string; kind: string },
  defaultNamespace = 'default',
): {
  object: KubeObject;
  namespace: string | undefined;
} {
  const { group } = splitApiVersion(obj.apiVersion);
  if (isClusterScoped(group, obj.kind)) return { object: obj, namespace: undefined };
  const ns = obj.metadata?.namespace;
  if (typeof ns === 'string' && ns !== '') return { object: obj, namespace: ns };
  return {
    object: { ...obj, metadata: { ...obj.metadata, namespace: defaultNamespace } },
    namespace: defaultNamespace,
  };
}

/** What kubectl run as a cluster admin looks like to a webhook. */
export const DEFAULT_USER: UserInfo = Object.freeze({
  username: 'kubernetes-admin',
  groups: Object.freeze(['system:masters', 'system:authenticated']),
});
