/**
 * Multi-process test harness for `tollgate serve`: a temporary policy tree (rules, a ConfigMap-style
 * bindings directory, TLS files from openssl), the real CLI run as a child process (from source, through
 * tsx), AdmissionReview requests over real TLS, and a closed-loop keep-alive load generator.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';

export const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'test/helpers/tollgate-cli.ts');

/** A port nobody listens on right now (bound and released; tests use fresh ones each time). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** Poll `fn` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}

/** A policy that denies images from a registry named by its parameters (and can be made slow). */
export const REGISTRY_POLICY = `import { definePolicy } from 'tollgate/sdk';
export default definePolicy<{ registry: string }>({
  name: 'only-registry',
  parameters: { type: 'object', required: ['registry'], properties: { registry: { type: 'string' } } },
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE'] },
  autogen: false,
  validate(ctx) {
    const out = [];
    const ms = Number(ctx.object?.metadata?.annotations?.['test/busy-ms'] ?? 0);
    const end = Date.now() + ms;
    while (Date.now() < end) { /* a slow policy, for drain tests */ }
    for (const c of ctx.containers(['containers'])) {
      if (!c.image.startsWith(ctx.params.registry + '/')) out.push({ message: c.image + ' is not from ' + ctx.params.registry });
    }
    return out;
  },
});
`;

export function bindingYaml(registry: string): string {
  return `apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata:
  name: only-registry
spec:
  policy: only-registry
  parameters:
    registry: ${registry}
  enforcementAction: deny
`;
}

export interface Tree {
  readonly dir: string;
  readonly rules: string;
  /** A Kubernetes ConfigMap-style directory: `binding.yaml -> ..data/binding.yaml`, `..data -> ..vN`. */
  readonly config: string;
  readonly cert: string;
  readonly key: string;
  readonly cacheDir: string;
  /** Replace the bindings the way the kubelet updates a ConfigMap volume (atomic `..data` symlink swap). */
  swapBindings(yaml: string): void;
  writePolicy(name: string, code: string): void;
  /** A new self-signed certificate and key, written over the old files (rename, like a Secret update). */
  rotateCertificate(): void;
  /** Replace only the key with one that does not belong to the certificate (a half-updated Secret). */
  mismatchKey(): void;
  remove(): void;
}

function makeCert(certPath: string, keyPath: string): void {
  const tmpCert = `${certPath}.new`;
  const tmpKey = `${keyPath}.new`;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      tmpKey,
      '-out',
      tmpCert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  renameSync(tmpKey, keyPath);
  renameSync(tmpCert, certPath);
}

export function makeTree(registry = 'registry.good'): Tree {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-'));
  const rules = join(dir, 'rules');
  const config = join(dir, 'config');
  const tls = join(dir, 'tls');
  mkdirSync(rules);
  mkdirSync(config);
  mkdirSync(tls);
  let version = 0;
  const tree: Tree = {
    dir,
    rules,
    config,
    cert: join(tls, 'tls.crt'),
    key: join(tls, 'tls.key'),
    cacheDir: join(dir, 'cache'),
    swapBindings(yaml) {
      version++;
      const target = `..v${version}`;
      mkdirSync(join(config, target));
      writeFileSync(join(config, target, 'binding.yaml'), yaml);
      symlinkSync(target, join(config, '..data_tmp'));
      renameSync(join(config, '..data_tmp'), join(config, '..data'));
      if (version === 1) symlinkSync(join('..data', 'binding.yaml'), join(config, 'binding.yaml'));
      else rmSync(join(config, `..v${version - 1}`), { recursive: true });
    },
    writePolicy(name, code) {
      mkdirSync(join(rules, name), { recursive: true });
      const file = join(rules, name, 'index.ts');
      writeFileSync(`${file}.tmp`, code);
      renameSync(`${file}.tmp`, file);
    },
    rotateCertificate() {
      makeCert(tree.cert, tree.key);
    },
    mismatchKey() {
      const other = join(dir, 'other');
      mkdirSync(other, { recursive: true });
      makeCert(join(other, 'tls.crt'), join(other, 'tls.key'));
      renameSync(join(other, 'tls.key'), tree.key);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  tree.writePolicy('only-registry', REGISTRY_POLICY);
  tree.swapBindings(bindingYaml(registry));
  makeCert(tree.cert, tree.key);
  return tree;
}

export function review(image: string, opts: { busyMs?: number; uid?: string } = {}): string {
  const annotations = opts.busyMs !== undefined ? { 'test/busy-ms': String(opts.busyMs) } : {};
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? 'e6d0f5a2-7d47-4c5e-9c4f-0b9d1c3f2a10',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'tester' },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'default', annotations },
        spec: { containers: [{ name: 'c', image }] },
      },
      oldObject: null,
      dryRun: false,
      options: null,
    },
  });
}

export interface Answer {
  readonly status: number;
  readonly allowed: boolean | undefined;
  readonly body: string;
}

/** One webhook call over TLS. Rejects when the connection fails or closes without an answer. */
export function post(
  port: number,
  body: string,
  agent?: Agent,
  path = '/validate?timeout=10s',
): Promise<Answer> {
  return new Promise((res, rej) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        ...(agent !== undefined ? { agent } : { agent: false }),
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let allowed: boolean | undefined;
          try {
            allowed = (JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed;
          } catch {
            allowed = undefined;
          }
          res({ status: r.statusCode ?? 0, allowed, body: text });
        });
        r.on('error', rej);
      },
    );
    req.on('error', rej);
    req.end(body);
  });
}

export interface LoadStats {
  /** 200 answers. */
  ok: number;
  /** Requests that were written and got no answer, or got a non-200 answer. */
  failed: number;
  /** Connection attempts that failed before the request was written (retried on a new connection). */
  reconnects: number;
  /** Answers with allowed true / false. */
  allowed: number;
  denied: number;
  errors: string[];
  /** ok count at given moments, for "requests keep succeeding while ..." checks. */
  okAt(): number;
}

/**
 * Closed-loop load: `concurrency` loops each send one request after the other on keep-alive connections.
 * A request counts as failed only if it was fully written (the client handed every byte to the socket)
 * and then got no answer or a non-200 one; an error before that is a failed connection attempt
 * (a worker closing its listen socket resets connections waiting in its accept queue) and is retried.
 */
export function startLoad(
  port: number,
  body: string,
  concurrency = 4,
  maxMs = 120_000,
): { stop(): Promise<LoadStats>; stats: LoadStats } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, rejectUnauthorized: false });
  const stats: LoadStats = {
    ok: 0,
    failed: 0,
    reconnects: 0,
    allowed: 0,
    denied: 0,
    errors: [],
    okAt: () => stats.ok,
  };
  let running = true;
  const started = Date.now();
  const one = (): Promise<void> =>
    new Promise((res) => {
      let written = false;
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/validate?timeout=10s',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            if (r.statusCode === 200) {
              stats.ok++;
              const allowed = (
                JSON.parse(Buffer.concat(chunks).toString('utf8')) as { response: { allowed: boolean } }
              ).response.allowed;
              if (allowed) stats.allowed++;
              else stats.denied++;
            } else {
              stats.failed++;
              stats.errors.push(
                `status ${r.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`,
              );
            }
            res();
          });
          r.on('error', (e) => {
            stats.failed++;
            stats.errors.push(`response error: ${e.message}`);
            res();
          });
        },
      );
      // Written = the whole request went out on a connection whose TLS handshake had completed (so a
      // worker had accepted it). Before the handshake, the client's bytes never reached a server.
      let secured = false;
      req.on('socket', (sock) => {
        const tls = sock as TLSSocket;
        if (req.reusedSocket || !tls.connecting) secured = true;
        else
          tls.once('secureConnect', () => {
            secured = true;
          });
      });
      req.on('finish', () => {
        written = true;
      });
      req.on('error', (e) => {
        if (written && secured) {
          stats.failed++;
          stats.errors.push(
            `written, no answer (${req.reusedSocket ? 'reused' : 'new'} connection): ${e.message}`,
          );
        } else {
          stats.reconnects++;
        }
        res();
      });
      req.end(body);
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running && Date.now() - started < maxMs) await one();
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}

export interface LogLine {
  readonly msg?: string;
  readonly role?: string;
  readonly pid?: number;
  readonly slot?: number;
  readonly [key: string]: unknown;
}

export interface Served {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  /** Resolves with the primary's exit code (or the signal that ended it). */
  readonly exited: Promise<number | string>;
  /** Current worker pids by slot, from the primary's `worker ready` log lines. */
  workerPids(): Map<number, number>;
  metrics(): Promise<string>;
  /** The last log lines and stderr, for a failing test's message. */
  tail(n?: number): string;
  /** Kill the primary and its workers if still running (cleanup after a failed test). */
  kill(): Promise<void>;
}

/** Node arguments that run `tollgate serve` (from source) on a tree: TLS on 127.0.0.1:`port`. */
export function serveArgs(
  tree: Tree,
  port: number,
  workers: number,
  extra: readonly string[] = [],
): string[] {
  return [
    '--import',
    'tsx',
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--workers',
    String(workers),
    '--tls-cert',
    tree.cert,
    '--tls-key',
    tree.key,
    '--rules',
    tree.rules,
    '--config',
    tree.config,
    '--cache-dir',
    tree.cacheDir,
    ...extra,
  ];
}

/** Run `tollgate serve` (from source) with a tree and wait until `workers` workers are ready. */
export async function serve(
  tree: Tree,
  opts: { workers?: number; extra?: string[]; graceMs?: number } = {},
): Promise<Served> {
  const workers = opts.workers ?? 2;
  const port = await freePort();
  const metricsPort = await freePort();
  const args = serveArgs(tree, port, workers, [
    '--metrics-host',
    '127.0.0.1',
    '--metrics-port',
    String(metricsPort),
    '--threads',
    '1',
    '--grace-period',
    `${opts.graceMs ?? 10_000}ms`,
    '--log-level',
    'info',
    ...(opts.extra ?? []),
  ]);
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const logs: LogLine[] = [];
  let stderr = '';
  let partial = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as LogLine);
      } catch {
        stderr += `${l}\n`;
      }
    }
  });
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number | string>((res) => {
    proc.once('exit', (code, signal) => res(code ?? signal ?? 'unknown'));
  });
  const served: Served = {
    proc,
    port,
    metricsPort,
    logs,
    stderr: () => stderr,
    exited,
    workerPids() {
      const m = new Map<number, number>();
      for (const l of logs) {
        if (l.role === 'primary' && l.msg === 'worker ready' && typeof l.slot === 'number') {
          m.set(l.slot, l.workerPid as number);
        }
      }
      return m;
    },
    metrics: () => httpGet(metricsPort, '/metrics'),
    tail(n = 40) {
      const lines = logs.filter((l) => l.msg !== 'allowed' && l.msg !== 'denied').slice(-n);
      return `${lines.map((l) => JSON.stringify(l).slice(0, 300)).join('\n')}\n--- stderr ---\n${stderr.slice(-2000)}`;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try {
        // The whole process group: the primary and every worker it forked.
        process.kill(-(proc.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    },
  };
  try {
    await waitFor(
      `${workers} workers ready`,
      () => {
        if (proc.exitCode !== null)
          throw new Error(`serve exited early (${proc.exitCode}): ${stderr.slice(-2000)}`);
        return logs.some((l) => l.msg === 'all workers ready') ? true : undefined;
      },
      90_000,
    );
  } catch (e) {
    await served.kill();
    throw e;
  }
  return served;
}

export function httpGet(port: number, path: string): Promise<string> {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (r) => {
      let text = '';
      r.setEncoding('utf8').on('data', (c: string) => {
        text += c;
      });
      r.on('end', () =>
        r.statusCode === 200 ? res(text) : rej(new Error(`GET ${path}: ${r.statusCode} ${text}`)),
      );
    });
    req.on('error', rej);
    req.end();
  });
}

/** The value of one series in a Prometheus text exposition (undefined when absent). */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
