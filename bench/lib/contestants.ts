// The four contestants, each started and stopped by the harness with the same certificate, the same
// policy set and the same request bodies, pinned to the server cores.
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compiledScript } from './build.js';
import type { Certs } from './certs.js';
import type { PolicyFiles } from './policies.js';
import {
  freePort,
  post,
  type Started,
  startProcess,
  stopProcess,
  waitForPortLine,
  waitUntil,
} from './proc.js';

export const CONTESTANTS = ['bare', 'parse', 'inline', 'tollgate', 'opa'] as const;
export type ContestantName = (typeof CONTESTANTS)[number];

export interface StartContext {
  readonly repoRoot: string;
  readonly benchDir: string;
  readonly certs: Certs;
  readonly policy: PolicyFiles;
  /** taskset CPU list for the server, e.g. "0". */
  readonly serverCpus: string | undefined;
  /** Number of server cores (workers for tollgate). */
  readonly serverCores: number;
  readonly logDir: string;
  /** Extra environment for `tollgate serve` (the profiler sets NODE_OPTIONS=--perf-basic-prof). */
  readonly serverEnv?: NodeJS.ProcessEnv;
}

export interface Running {
  readonly name: ContestantName;
  readonly port: number;
  /** Request path of the validating endpoint. */
  readonly path: string;
  readonly process: Started;
  /** What was run, for the report. */
  readonly command: string;
  stop(): Promise<void>;
}

/** A contestant that cannot run here; the reason goes into the report instead of a number. */
export class Unavailable extends Error {}

/** The engine as built (dist/), or its TypeScript source through tsx when dist/ is missing. */
function engineModule(repoRoot: string): { path: string; loader: string[] } {
  const built = join(repoRoot, 'dist', 'engine', 'engine.js');
  if (existsSync(built)) return { path: built, loader: [] };
  return { path: join(repoRoot, 'src', 'engine', 'engine.ts'), loader: ['--import', 'tsx'] };
}

async function startNodeServer(
  name: 'bare' | 'parse' | 'inline',
  ctx: StartContext,
  extra: string[],
): Promise<Running> {
  // "parse" is the bare server with --parse.
  const script = compiledScript(ctx.benchDir, `lib/servers/${name === 'parse' ? 'bare' : name}.ts`);
  const engine = engineModule(ctx.repoRoot);
  const inline = name === 'inline';
  const args = [
    ...(inline ? engine.loader : []),
    script,
    ...['--cert', ctx.certs.cert, '--key', ctx.certs.key],
    ...(inline ? ['--engine', engine.path, '--cache-dir', join(ctx.logDir, 'inline-cache')] : []),
    ...extra,
  ];
  const p = startProcess(process.execPath, args, {
    cwd: ctx.repoRoot,
    ...(ctx.serverCpus ? { cpus: ctx.serverCpus } : {}),
  });
  return serving(
    { name, path: '/validate', process: p, command: `node ${args.join(' ')}` },
    () => waitForPortLine(p, 60_000),
    (e) => new Error(`${name}: ${e.message}\n${p.output().slice(-2000)}`),
  );
}

/**
 * A started contestant as running once `serves` resolves with its port; otherwise its process is stopped
 * and `fail`'s error thrown.
 */
async function serving(
  r: Omit<Running, 'port' | 'stop'>,
  serves: () => Promise<number>,
  fail: (e: Error) => Error,
): Promise<Running> {
  let port: number;
  try {
    port = await serves();
  } catch (e) {
    await stopProcess(r.process);
    throw fail(e as Error);
  }
  return { ...r, port, stop: () => stopProcess(r.process) };
}

/** Resolves with `port` once a POST of `body` to it answers 200. */
async function ready(
  p: Started,
  port: number,
  path: string,
  body: Buffer,
  timeoutMs: number,
): Promise<number> {
  await waitUntil(p, async () => (await post(port, path, body, 2000)).status === 200, timeoutMs);
  return port;
}

export function opaBinary(benchDir: string): string {
  return join(benchDir, '.bin', 'opa');
}

export async function startContestant(
  name: ContestantName,
  ctx: StartContext,
  probe: Buffer,
): Promise<Running> {
  switch (name) {
    case 'bare':
      return startNodeServer('bare', ctx, []);
    case 'parse':
      return startNodeServer('parse', ctx, ['--parse']);
    case 'inline':
      return startNodeServer('inline', ctx, ['--rules', ctx.policy.rules, '--config', ctx.policy.bindings]);
    case 'tollgate': {
      const main = join(ctx.repoRoot, 'dist', 'main.js');
      if (!existsSync(main))
        throw new Unavailable('dist/main.js is missing: run `npm run build` at the root');
      const [port, metricsPort] = [await freePort(), await freePort()];
      const args = [
        join(ctx.repoRoot, 'bin', 'tollgate.js'),
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--metrics-host',
        '127.0.0.1',
        '--metrics-port',
        String(metricsPort),
        // One worker per server core; threads per worker stay at the shipped default.
        '--workers',
        String(ctx.serverCores),
        '--cache-dir',
        join(ctx.logDir, 'tollgate-cache'),
        '--tls-cert',
        ctx.certs.cert,
        '--tls-key',
        ctx.certs.key,
        '--rules',
        ctx.policy.rules,
        '--config',
        ctx.policy.bindings,
        '--log-level',
        'info',
      ];
      const p = startTo(process.execPath, args, ctx, 'tollgate');
      return serving(
        { name, path: '/validate', process: p, command: `node ${args.join(' ')}` },
        () => ready(p, port, '/validate', probe, 60_000),
        (e) =>
          new Unavailable(
            `\`tollgate serve\` did not serve: ${e.message}; output: ${logTail(ctx, 'tollgate') || '(none)'}`,
          ),
      );
    }
    case 'opa': {
      const bin = opaBinary(ctx.benchDir);
      if (ctx.policy.rego === undefined) throw new Error('opa: this policy set has no Rego equivalent');
      if (!existsSync(bin))
        throw new Unavailable(`OPA is not installed at ${bin}: run \`npm --prefix bench run setup\``);
      const port = await freePort();
      const args = [
        'run',
        '--server',
        // No call home (version check) from a benchmark.
        '--skip-version-check',
        // POST / answers data.system.main (the AdmissionReview) with the request body as input.
        '--set',
        'default_decision=/system/main',
        '--addr',
        `127.0.0.1:${port}`,
        '--tls-cert-file',
        ctx.certs.cert,
        '--tls-private-key-file',
        ctx.certs.key,
        // OPA logs every request at info; Tollgate logs no allowed request at info. Same work: errors only.
        '--log-level',
        'error',
        ctx.policy.rego,
      ];
      const p = startTo(bin, args, ctx, 'opa');
      return serving(
        { name, path: '/', process: p, command: `opa ${args.join(' ')}` },
        () => ready(p, port, '/', probe, 30_000),
        (e) => new Error(`opa did not serve: ${e.message}; output: ${logTail(ctx, 'opa') || '(none)'}`),
      );
    }
  }
}

/** Start a server whose logs go to a file (their cost stays in the server, none in the harness). */
function startTo(cmd: string, args: string[], ctx: StartContext, name: string): Started {
  const log = join(ctx.logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const p = startProcess(cmd, args, {
    cwd: ctx.repoRoot,
    ...(ctx.serverCpus ? { cpus: ctx.serverCpus } : {}),
    ...(ctx.serverEnv ? { env: { ...process.env, ...ctx.serverEnv } } : {}),
    stdio: ['ignore', fd, fd],
  });
  return p;
}

function logTail(ctx: StartContext, name: string): string {
  try {
    return readFileSync(join(ctx.logDir, `${name}.log`), 'utf8')
      .slice(-1500)
      .trim();
  } catch {
    return '';
  }
}

/**
 * Check that a contestant answers like the others: the allowed body gets allowed:true with its uid, the
 * denied body gets allowed:false (except "bare", which answers a constant). A contestant that answers
 * differently would not be measuring the same thing.
 */
export async function checkAnswers(r: Running, allowBody: Buffer, denyBody: Buffer): Promise<void> {
  const parse = (s: string) => JSON.parse(s) as { response?: { uid?: string; allowed?: boolean } };
  const uidOf = (b: Buffer) => (JSON.parse(b.toString()) as { request: { uid: string } }).request.uid;
  const a = await post(r.port, r.path, allowBody);
  const ar = parse(a.body).response;
  if (a.status !== 200 || ar?.allowed !== true || ar.uid !== uidOf(allowBody)) {
    throw new Error(`${r.name}: allowed review answered ${a.status} ${a.body.slice(0, 300)}`);
  }
  // Neither evaluates a policy: they allow everything.
  if (r.name === 'bare' || r.name === 'parse') return;
  const d = await post(r.port, r.path, denyBody);
  const dr = parse(d.body).response;
  if (d.status !== 200 || dr?.allowed !== false || dr.uid !== uidOf(denyBody)) {
    throw new Error(`${r.name}: denied review answered ${d.status} ${d.body.slice(0, 300)}`);
  }
}
