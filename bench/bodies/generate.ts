// Writes the AdmissionReview request bodies that the harness and the k6 scripts both send, so both
// measure the same thing. Deterministic: `npm --prefix bench run bodies` rewrites identical files, and the
// smoke test checks that the committed files are what this generator produces.
//
// Every body is a v1 AdmissionReview for a Pod CREATE in namespace `default`, with images from the
// seed registry (192.168.64.1:5000), so the seed/trusted-registry rule allows it. `review-deny.json` uses
// `:latest` and an outside registry: used to check that every contestant denies the same request.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REGISTRY = '192.168.64.1';
export const BODY_SIZES = { '2k': 2 * 1024, '20k': 20 * 1024, '1m': 1024 * 1024 } as const;
export type BodySize = keyof typeof BODY_SIZES;

type Json = Record<string, unknown>;

function container(i: number, envCount: number, image: string): Json {
  return {
    name: `app-${i}`,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: 8080 + i, protocol: 'TCP' }],
    env: Array.from({ length: envCount }, (_, j) => ({
      name: `SETTING_${i}_${j}`,
      value: `value-${i}-${j}`,
    })),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: 'config', mountPath: '/etc/app', readOnly: true }],
  };
}

function pod(name: string, containers: Json[], annotations: Record<string, string>): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      labels: { app: 'bench', tier: 'web', 'app.kubernetes.io/name': 'bench' },
      annotations,
    },
    spec: {
      serviceAccountName: 'bench',
      securityContext: {
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
        appArmorProfile: { type: 'RuntimeDefault' },
      },
      containers,
      volumes: [{ name: 'config', configMap: { name: 'bench-config' } }],
    },
  };
}

function review(uid: string, object: Json): Json {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: object.metadata && (object.metadata as Json).name,
      namespace: 'default',
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        groups: ['system:serviceaccounts'],
      },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/**
 * A review of about `target` bytes: containers and env vars grow with the size (as real Pods do), and the
 * rest is an annotation like kubectl's last-applied-configuration, padded to land within 1 % of the target.
 */
export function buildBody(size: BodySize): string {
  const target = BODY_SIZES[size];
  const shape = { '2k': [1, 2], '20k': [4, 20], '1m': [20, 200] } as const;
  const [nContainers, nEnv] = shape[size];
  const containers = Array.from({ length: nContainers }, (_, i) =>
    container(i, nEnv, `${REGISTRY}:5000/team/app-${i}:1.${i}.0`),
  );
  const uid = `00000000-0000-4000-8000-${String(target).padStart(12, '0')}`;
  const build = (pad: number) =>
    `${JSON.stringify(
      review(uid, pod(`bench-${size}`, containers, { 'bench.tollgate.dev/padding': 'x'.repeat(pad) })),
    )}\n`;
  const base = Buffer.byteLength(build(0));
  if (base > target) throw new Error(`body ${size}: ${base} bytes before padding exceeds ${target}`);
  return build(target - base);
}

export function buildDenyBody(): string {
  const containers = [container(0, 2, 'nginx:latest')];
  return `${JSON.stringify(review('00000000-0000-4000-8000-00000000dead', pod('bench-deny', containers, {})))}\n`;
}

export function bodyFiles(): Record<string, string> {
  return {
    'review-2k.json': buildBody('2k'),
    'review-20k.json': buildBody('20k'),
    'review-1m.json': buildBody('1m'),
    'review-deny.json': buildDenyBody(),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, text] of Object.entries(bodyFiles())) {
    writeFileSync(fileURLToPath(new URL(name, import.meta.url)), text);
    process.stdout.write(`bench/bodies/${name}: ${Buffer.byteLength(text)} bytes\n`);
  }
}
