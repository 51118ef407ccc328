// Engine micro-benchmark: nanoseconds per decision on one thread, no HTTP.
//
//   npm run bench:engine               (about 20 s on the 2-core machine)
//   npm run bench:engine -- --quick    (fewer, shorter rounds: a smoke check; writes bench/results/tmp/)
//
// Cases: the seed policy on a ~2 KB Pod review, bytes in → encoded body out through handleRequest (the
// path both engines share) and evaluateReview alone on an already-decoded review; and a set of 50 bindings
// of which 1 matches the Pod (49 bound to other kinds), to show the kind/operation index at work.
// Each case is warmed up, then timed over several rounds; the table shows the median ns per decision and
// the spread (min–max over rounds). Results: bench/results/engine.json.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeReview } from '../src/admission/decode.js';
import type { AdmissionReview } from '../src/admission/types.js';
import { handleRequest, loadPolicySet } from '../src/engine/engine.js';
import { evaluateReview } from '../src/engine/evaluate.js';
import type { PolicySet } from '../src/engine/policy-set.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 9;
const TARGET_ROUND_MS = quick ? 100 : 300;
const WARMUP_MS = quick ? 200 : 800;

/** A realistic Pod as the API server sends it after defaulting: ~2 KB of review JSON. */
function podReview(image: string): Record<string, unknown> {
  const container = (name: string, img: string) => ({
    name,
    image: img,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    ],
    resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app', readOnly: true },
      {
        name: 'kube-api-access-x7k2p',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
  });
  const object = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-7d9f8b6c5d-x2x4q',
      generateName: 'web-7d9f8b6c5d-',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5d', tier: 'frontend' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-07-01T10:00:00Z' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d9f8b6c5d',
          uid: '6f1c2d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      containers: [container('web', image), container('sidecar', '192.168.64.1:5000/envoy:v1.30.1')],
      volumes: [{ name: 'config', configMap: { name: 'web-config', defaultMode: 420 } }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      schedulerName: 'default-scheduler',
      priority: 0,
    },
  };
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        uid: 'a1b2c3d4-0000-4000-8000-000000000001',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/** The seed binding plus 49 bindings of the same policy bound to other kinds. */
function fiftyBindings(): string {
  const docs = [
    `apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: {name: seed-image-check}
spec: {policy: seed-image-check, parameters: {registry: 192.168.64.1}}
`,
  ];
  for (let i = 1; i < 50; i++) {
    docs.push(`apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: {name: other-${i}}
spec:
  policy: seed-image-check
  parameters: {registry: 192.168.64.1}
  match: {kinds: [{apiGroups: [example.com], kinds: [Widget${i}]}]}
`);
  }
  return docs.join('---\n');
}

interface Stat {
  readonly name: string;
  /** CPU time (user + system) per decision: the figure that holds up on a shared, loaded machine. */
  readonly medianNs: number;
  readonly minNs: number;
  readonly maxNs: number;
  readonly spreadPct: number;
  readonly opsPerCpuSec: number;
  /** Wall-clock time per decision (inflated when other processes compete for the cores). */
  readonly wallMedianNs: number;
  readonly iterationsPerRound: number;
  readonly rounds: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Warm up, size a round to TARGET_ROUND_MS of CPU, then time ROUNDS rounds. CPU time is measured with
 * process.cpuUsage (microsecond resolution over rounds of hundreds of milliseconds), wall time with hrtime.
 */
async function measure(name: string, fn: () => Promise<unknown>): Promise<Stat> {
  let n = 0;
  const warm0 = process.cpuUsage();
  let warmCpuMs = 0;
  while (warmCpuMs < WARMUP_MS) {
    for (let i = 0; i < 100; i++) await fn();
    n += 100;
    const d = process.cpuUsage(warm0);
    warmCpuMs = (d.user + d.system) / 1000;
  }
  const iterations = Math.max(100, Math.round(TARGET_ROUND_MS / (warmCpuMs / n)));
  const cpuNs: number[] = [];
  const wallNs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    const wall = Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    cpuNs.push(((c.user + c.system) * 1000) / iterations);
    wallNs.push(wall / iterations);
  }
  const med = median(cpuNs);
  const min = Math.min(...cpuNs);
  const max = Math.max(...cpuNs);
  return {
    name,
    medianNs: Math.round(med),
    minNs: Math.round(min),
    maxNs: Math.round(max),
    spreadPct: Math.round(((max - min) / med) * 1000) / 10,
    opsPerCpuSec: Math.round(1e9 / med),
    wallMedianNs: Math.round(median(wallNs)),
    iterationsPerRound: iterations,
    rounds: ROUNDS,
  };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-bench-engine-'));
  try {
    mkdirSync(join(root, 'rules'));
    cpSync(join(repoRoot, 'rules', 'seed-image-check'), join(root, 'rules', 'seed-image-check'), {
      recursive: true,
    });
    writeFileSync(join(root, 'fifty.yaml'), fiftyBindings());
    const load = (config: string): Promise<PolicySet> =>
      loadPolicySet({
        rules: join(root, 'rules'),
        configs: [config],
        data: [],
        cacheDir: join(root, 'cache'),
      });
    const seed = await load(join(repoRoot, 'examples', 'seed', 'binding.yaml'));
    const fifty = await load(join(root, 'fifty.yaml'));
    if (fifty.bindings.length !== 50) throw new Error(`expected 50 bindings, got ${fifty.bindings.length}`);

    const enc = new TextEncoder();
    const utf8 = new TextDecoder();
    // What kube-apiserver's encoding/json sends: HTML-escaped, trailing newline.
    const bytesOf = (v: unknown) => enc.encode(`${JSON.stringify(v).replace(/</g, '\\u003c')}\n`);
    const allowedBody = bytesOf(podReview('192.168.64.1:5000/shop/web:2.4.1'));
    const deniedBody = bytesOf(podReview('nginx:latest'));
    const allowedReview: AdmissionReview = decodeReview(allowedBody);

    // Check the cases decide what they should before timing them.
    const check = async (set: PolicySet, body: Uint8Array, allowed: boolean) => {
      const reply = await handleRequest(set, { body, endpoint: 'validate' });
      const r = (JSON.parse(reply.body) as { response?: { allowed?: boolean } }).response;
      if (reply.status !== 200 || r?.allowed !== allowed) throw new Error(`unexpected reply ${reply.body}`);
      return reply.decision?.evaluations.length ?? 0;
    };
    const evaluated = await check(seed, allowedBody, true);
    await check(seed, deniedBody, false);
    const evaluatedOf50 = await check(fifty, allowedBody, true);
    if (evaluated !== 1 || evaluatedOf50 !== 1) throw new Error('each case evaluates exactly one binding');

    const opts = { mutate: false } as const;
    const stats: Stat[] = [];
    const cases: [string, () => Promise<unknown>][] = [
      [
        'seed, 1 binding: handleRequest (bytes → body), allowed',
        () => handleRequest(seed, { body: allowedBody, endpoint: 'validate' }),
      ],
      [
        'seed, 1 binding: handleRequest (bytes → body), denied',
        () => handleRequest(seed, { body: deniedBody, endpoint: 'validate' }),
      ],
      ['seed, 1 binding: evaluateReview only', () => evaluateReview(seed, allowedReview, opts)],
      [
        '50 bindings, 1 matches: handleRequest (bytes → body)',
        () => handleRequest(fifty, { body: allowedBody, endpoint: 'validate' }),
      ],
      ['50 bindings, 1 matches: evaluateReview only', () => evaluateReview(fifty, allowedReview, opts)],
      ['decodeReview only (for reference)', async () => decodeReview(allowedBody)],
      // The floor on this machine: UTF-8 decoding and JSON.parse of the same bytes, nothing else.
      ['TextDecoder + JSON.parse only (baseline)', async () => JSON.parse(utf8.decode(allowedBody))],
    ];
    for (const [name, fn] of cases) {
      stats.push(await measure(name, fn));
      process.stderr.write('.');
    }
    process.stderr.write('\n');

    const width = Math.max(...stats.map((s) => s.name.length));
    const load1 = loadavg()[0]?.toFixed(1) ?? '?';
    const lines = [
      `review body: ${allowedBody.length} bytes; node ${process.version}; ${cpus()[0]?.model ?? 'unknown cpu'}; ` +
        `${ROUNDS} rounds; load average ${load1} on ${cpus().length} cpus`,
      'ns = CPU time per decision (user+system); wall ns is inflated when the cores are shared',
      '',
      `${'case'.padEnd(width)}  ${'median ns'.padStart(10)}  ${'min–max ns'.padStart(15)}  ${'spread'.padStart(7)}  ${'ops/cpu-s'.padStart(9)}  ${'wall ns'.padStart(9)}`,
      ...stats.map(
        (s) =>
          `${s.name.padEnd(width)}  ${String(s.medianNs).padStart(10)}  ${`${s.minNs}–${s.maxNs}`.padStart(15)}  ` +
          `${`${s.spreadPct}%`.padStart(7)}  ${String(s.opsPerCpuSec).padStart(9)}  ${String(s.wallMedianNs).padStart(9)}`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);

    const outDir = join(repoRoot, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const out = {
      benchmark: 'engine',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      quick,
      reviewBytes: allowedBody.length,
      rounds: ROUNDS,
      loadAverage: loadavg(),
      unit: 'CPU ns per decision (user+system; median, min and max over rounds); wallMedianNs is wall-clock',
      results: stats,
    };
    // A quick run is a smoke check: its figures go to the git-ignored tmp/, never over the real ones.
    const file = quick ? join(outDir, 'tmp', 'engine-quick.json') : join(outDir, 'engine.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
