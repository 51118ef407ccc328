// Where a request's CPU goes in `tollgate serve`: a perf profile of the server's CPU at saturation and at
// 70 % of it, read into CPU µs per request by thread (event loop, pool thread) and by cost (JSON.parse,
// evaluation, the hand-over between event loop and pool thread, TLS/HTTP, kernel TCP, GC, ...).
// The evidence the benchmark's missed goals call for, reproducible.
//
//   npm run bench:profile                          (about a minute)
//   options: --seconds 5  --fraction 0.7  --policy seed|podsecurity  --out DIR  --server-cpus 0  --load-cpus 1
//            --repo DIR (profile another checkout's dist/, e.g. a git worktree of the previous commit)
//
// Needs perf (Debian: apt-get install linux-perf) allowed to record the whole CPU (root, or
// kernel.perf_event_paranoid <= 0), wrk, and the latency generator of `npm --prefix bench run setup`.
// Results: DIR/profile.json and DIR/profile.md (DIR = bench/results).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commitOf, machineDescription } from './lib/about.js';
import { distIsStale } from './lib/build.js';
import { ensureCerts } from './lib/certs.js';
import { checkAnswers, type Running, startContestant } from './lib/contestants.js';
import { hasWrk, runOpenLoopProcess, runWrk } from './lib/load.js';
import { type PolicyVariant, writePolicyFiles } from './lib/policies.js';
import { cpuList, descendants, pinSelf, startProcess } from './lib/proc.js';
import {
  type PhaseProfile,
  type ProfileResults,
  parsePerfScript,
  renderProfileMarkdown,
  summarize,
} from './lib/profile.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    fraction: { type: 'string', default: '0.7' },
    policy: { type: 'string', default: 'seed' },
    out: { type: 'string' },
    'server-cpus': { type: 'string' },
    'load-cpus': { type: 'string' },
    /** Another checkout's build to profile (an A/B of two commits); its dist/ must be built. */
    repo: { type: 'string' },
  },
});
const repoRoot = resolve(args.repo ?? join(benchDir, '..'));
const seconds = Number(args.seconds);
const fraction = Number(args.fraction);
const policy = args.policy as PolicyVariant;
const nCpu = availableParallelism();
const serverCpus = args['server-cpus'] ?? '0';
const loadCpus = args['load-cpus'] ?? String(nCpu - 1);
const serverCores = cpuList(serverCpus).length;

function log(msg: string): void {
  process.stderr.write(`[profile] ${msg}\n`);
}

/** Why this machine cannot profile, or undefined. */
function missing(): string | undefined {
  if (!(seconds > 0) || !(fraction > 0 && fraction < 1))
    return '--seconds must be > 0 and --fraction in (0, 1)';
  if (!['seed', 'fifty', 'podsecurity'].includes(policy)) return `unknown --policy ${policy}`;
  if (nCpu < 2) return 'needs 2 CPUs: one for the server, one for the load';
  if (!hasWrk()) return 'wrk is not installed: apt-get install -y wrk';
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'perf is not installed: apt-get install -y linux-perf';
  }
  if (distIsStale(repoRoot)) return 'dist/ is missing or older than src/: run `npm run build` at the root';
  return undefined;
}

/** perf record of the server CPUs for `s` seconds, call graphs included; resolves with the data file. */
async function record(file: string, s: number): Promise<string> {
  const p = startProcess(
    'perf',
    ['record', '-F', '4000', '-g', '-C', serverCpus, '-o', file, '--', 'sleep', String(s)],
    {
      cpus: loadCpus,
    },
  );
  const { code } = await p.exited;
  if (code !== 0 || !existsSync(file))
    throw new Error(
      `perf record failed (exit ${code}): ${p.output().slice(-800).trim()} (root, or sysctl kernel.perf_event_paranoid=-1)`,
    );
  return file;
}

function script(file: string): string {
  return execFileSync('perf', ['script', '-i', file, '-F', 'comm,pid,tid,period,ip,sym,dso'], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const why = missing();
  if (why !== undefined) throw new Error(why);
  // The harness stays off the server's CPUs too.
  pinSelf(loadCpus);
  const work = mkdtempSync(join(tmpdir(), 'tollgate-profile-'));
  const body = join(benchDir, 'bodies', 'review-2k.json');
  const certs = ensureCerts(join(work, 'certs'));
  let server: Running | undefined;
  const pids: number[] = [];
  try {
    server = await startContestant(
      'tollgate',
      {
        repoRoot,
        benchDir,
        certs,
        policy: writePolicyFiles(policy, join(work, policy), repoRoot),
        serverCpus,
        serverCores,
        logDir: work,
        serverEnv: { NODE_OPTIONS: '--perf-basic-prof' },
      },
      readFileSync(body),
    );
    await checkAnswers(
      server,
      readFileSync(body),
      readFileSync(join(benchDir, 'bodies', 'review-deny.json')),
    );
    const primary = server.process.child.pid!;
    const procs = { primary, workers: descendants(primary) };
    pids.push(primary, ...procs.workers);
    const wrk = (s: number) =>
      runWrk({
        port: server!.port,
        path: server!.path,
        body,
        connections: 32,
        durationS: s,
        threads: 1,
        cpus: loadCpus,
        luaDir: join(benchDir, 'lib'),
      });

    log(`tollgate serve up (primary ${primary}, workers ${procs.workers.join(', ')}); warming up 3 s`);
    await wrk(3);

    log(`saturation: wrk 32 connections, perf for ${seconds} s`);
    const satData = join(work, 'sat.data');
    const [w] = await Promise.all([wrk(seconds + 2), delay(1000).then(() => record(satData, seconds))]);
    const saturation = { ...phase(satData, procs, w.rps * seconds), rps: w.rps };
    log(`  ${Math.round(w.rps)} req/s, ${saturation.serverTotal} µs/request`);

    const rate = Math.round(w.rps * fraction);
    log(`${Math.round(fraction * 100)} %: ${rate} req/s open loop, 25 connections, perf for ${seconds} s`);
    const partData = join(work, 'part.data');
    const [o] = await Promise.all([
      runOpenLoopProcess({
        port: server.port,
        path: server.path,
        body,
        rate,
        connections: 25,
        durationS: seconds + 1,
        warmupS: 1,
        ca: certs.cert,
        cpus: loadCpus,
        benchDir,
      }),
      delay(1500).then(() => record(partData, seconds)),
    ]);
    const partial = { ...phase(partData, procs, rate * seconds), rate, fraction, p99Ms: o.latencyMs.p99 };
    log(`  ${partial.serverTotal} µs/request, p99 ${o.latencyMs.p99} ms`);

    const results: ProfileResults = {
      date: new Date().toISOString(),
      commit: commitOf(repoRoot),
      machine: machineDescription(),
      policy: policy === 'seed' ? 'seed (1 binding, 2 KB review)' : `${policy} (2 KB review)`,
      serverCpus,
      loadCpus,
      saturation,
      partial,
      notes: [
        "perf samples the CPU every 250 µs (cpu-clock in a VM); a category is the cost of the code it names and of what that code calls, the kernel work at a sample's leaf by the syscall it serves.",
        '"hand-over" is what moving a batch between the event loop and the pool thread costs: MessagePort and libuv wake-ups, futex/eventfd, the pool\'s and the thread\'s batch code. "scheduler" is context switching, between those two threads and to and from idle.',
        `Reproduce: npm run bench:profile -- --seconds ${seconds} --fraction ${fraction} --policy ${policy}`,
      ],
    };
    const dir = resolve(args.out ?? join(benchDir, 'results'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'profile.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = renderProfileMarkdown(results);
    writeFileSync(join(dir, 'profile.md'), md);
    process.stdout.write(md);
    log(`wrote ${join(dir, 'profile.json')} and profile.md`);
  } finally {
    await server?.stop();
    // V8's perf maps grow for as long as a process runs: remove the server's.
    for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

function phase(file: string, procs: { primary: number; workers: number[] }, requests: number): PhaseProfile {
  return summarize(parsePerfScript(script(file)), procs, {
    requests,
    seconds,
    cpus: serverCores,
  });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:profile: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
