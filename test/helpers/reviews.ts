/**
 * AdmissionReview bodies as kube-apiserver sends them (ADMISSION.md §1.4): every field present,
 * `object`/`oldObject` null when absent, `options` per operation.
 */
export type ReviewVersion = 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1';

export interface ReviewOptions {
  /** Default: a fresh uid per review. */
  readonly uid?: string;
  /** Default admission.k8s.io/v1; anything else to test refusals. */
  readonly apiVersion?: ReviewVersion | (string & {});
  readonly operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly kind?: { group: string; version: string; kind: string };
  readonly requestKind?: { group: string; version: string; kind: string };
  readonly resource?: { group: string; version: string; resource: string };
  readonly subResource?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly object?: unknown;
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
  readonly options?: unknown;
  readonly userInfo?: unknown;
}

let uidCounter = 0;

const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };
const PODS = { group: '', version: 'v1', resource: 'pods' };

export function pod(
  name: string,
  image: string,
  labels?: Record<string, string>,
  extra: { annotations?: Record<string, string> } = {},
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      ...(labels !== undefined ? { labels } : {}),
      ...(extra.annotations !== undefined ? { annotations: extra.annotations } : {}),
    },
    spec: { containers: [{ name: 'app', image }] },
  };
}

export function configMap(name: string, labels: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default', labels },
    data: { a: 'b' },
  };
}

export function review(o: ReviewOptions = {}): Record<string, unknown> {
  const operation = o.operation ?? 'CREATE';
  const kind = o.kind ?? POD_KIND;
  const options =
    o.options !== undefined
      ? o.options
      : operation === 'CONNECT'
        ? null
        : {
            apiVersion: 'meta.k8s.io/v1',
            kind: `${operation === 'DELETE' ? 'Delete' : operation === 'UPDATE' ? 'Update' : 'Create'}Options`,
          };
  const request: Record<string, unknown> = {
    uid: o.uid ?? `00000000-0000-4000-8000-${String(++uidCounter).padStart(12, '0')}`,
    kind,
    resource: o.resource ?? PODS,
    requestKind: o.requestKind ?? kind,
    requestResource: o.resource ?? PODS,
    ...(o.subResource !== undefined ? { subResource: o.subResource, requestSubResource: o.subResource } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    operation,
    userInfo: o.userInfo ?? {
      username: 'kubernetes-admin',
      groups: ['system:masters', 'system:authenticated'],
    },
    object: o.object === undefined ? null : o.object,
    oldObject: o.oldObject === undefined ? null : o.oldObject,
    dryRun: o.dryRun ?? false,
    options,
  };
  return { kind: 'AdmissionReview', apiVersion: o.apiVersion ?? 'admission.k8s.io/v1', request };
}

/** Serialised the way Go's encoding/json Encoder does: HTML characters escaped, trailing newline. */
export function goJson(v: unknown): string {
  return `${JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')}\n`;
}

export function podReview(uid: string, image: string, o: Partial<ReviewOptions> = {}): string {
  return goJson(review({ uid, name: 'p', namespace: 'default', object: pod('p', image), ...o }));
}
