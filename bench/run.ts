// The side-by-side benchmark: bare uWS, inline engine, `tollgate serve`, OPA.
//
//   npm run bench                 full run (3 repetitions of every point, ~18 minutes with all five contestants)
//   npm run bench -- --quick      about a minute: one repetition, short phases
//   npm run bench -- --smoke      seconds: proves the harness end to end (used by test/bench-smoke.test.ts)
//   options: --contestants bare,inline,tollgate,opa  --out DIR  --server-cpus 0  --load-cpus 1
//
// Results: DIR/latest.json, latest.md, latest.svg and dated copies in DIR/history/ (DIR = bench/results).
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commitOf, machineDescription } from './lib/about.js';
import { distIsStale } from './lib/build.js';
import { ensureCerts } from './lib/certs.js';
import {
  CONTESTANTS,
  type ContestantName,
  checkAnswers,
  type Running,
  type StartContext,
  startContestant,
  Unavailable,
} from './lib/contestants.js';
import {
  hasWrk,
  type LatencyGenerator,
  latencyGenerator,
  runOpenLoopProcess,
  runWrk,
  type WrkResult,
} from './lib/load.js';
import { type PolicyVariant, writePolicyFiles } from './lib/policies.js';
import {
  cpuBusy,
  cpuList,
  type MemoryPeak,
  pinSelf,
  readProcStat,
  rssSampler,
  signalTree,
  stealMs,
  treeCpuSeconds,
  treeUsage,
} from './lib/proc.js';
import {
  type BenchResults,
  type ContestantResult,
  evaluateGoals,
  GOAL_FRACTION,
  goalPoint,
  type LatencyPoint,
  type LatencyRun,
  medianRun,
  renderMarkdown,
  renderSvg,
  type ServerLoad,
} from './lib/report.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDir, '..');

interface Plan {
  readonly mode: 'full' | 'quick' | 'smoke';
  readonly reps: number;
  readonly saturationS: number;
  /** Seconds of one latency run. */
  readonly latencyS: number;
  /**
   * Runs of every latency point (each fraction of own max, the common rate), interleaved across
   * contestants; the one with the median p99 counts. (One run per point let a single VM stall draw the
   * curve.)
   */
  readonly latencyReps: number;
  readonly warmupS: number;
  readonly connectS: number;
  readonly bodyS: number;
  /** Fractions of each contestant's own maximum at which latency is measured (the chart's points). */
  readonly fractions: readonly number[];
  readonly fifty: boolean;
  /** Also measure latency with the 50-binding sets (not only their saturation throughput). */
  readonly fiftyLatency: boolean;
  /**
   * Seconds from starting a phase's contestants to measuring any, all of them running: start-up work
   * still pending then (V8's memory reducer runs full GCs some 8 s after a Node process starts) would
   * otherwise land in the first latency run of whichever contestant it delays, frozen or not.
   */
  readonly settleS: number;
}

const PLANS: Record<Plan['mode'], Plan> = {
  full: {
    mode: 'full',
    reps: 3,
    saturationS: 10,
    latencyS: 5,
    latencyReps: 3,
    warmupS: 2,
    connectS: 8,
    bodyS: 8,
    fractions: [0.25, 0.5, 0.6, GOAL_FRACTION, 0.9],
    fifty: true,
    fiftyLatency: true,
    settleS: 10,
  },
  quick: {
    mode: 'quick',
    reps: 1,
    saturationS: 2,
    latencyS: 2,
    latencyReps: 1,
    warmupS: 0.5,
    connectS: 2,
    bodyS: 2,
    fractions: [GOAL_FRACTION],
    fifty: true,
    fiftyLatency: false,
    settleS: 10,
  },
  smoke: {
    mode: 'smoke',
    reps: 1,
    // 3 s, not 1: under a loaded CI machine 32 TLS handshakes can take most of a second, and a
    // contestant with no completed request has no ratio.
    saturationS: 3,
    latencyS: 1,
    // Two, so that CI runs the repetition path.
    latencyReps: 2,
    warmupS: 0.5,
    connectS: 1,
    bodyS: 1,
    fractions: [GOAL_FRACTION],
    fifty: false,
    fiftyLatency: false,
    settleS: 0,
  },
};

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    contestants: { type: 'string', default: CONTESTANTS.join(',') },
    out: { type: 'string' },
    'server-cpus': { type: 'string' },
    'load-cpus': { type: 'string' },
    'skip-build': { type: 'boolean', default: false },
  },
});

const plan = PLANS[args.smoke ? 'smoke' : args.quick ? 'quick' : 'full'];
const names = args.contestants.split(',').map((s) => s.trim()) as ContestantName[];
for (const n of names)
  if (!CONTESTANTS.includes(n)) throw new Error(`unknown contestant ${n}; use ${CONTESTANTS.join(', ')}`);

const nCpu = availableParallelism();
const serverCpus = args['server-cpus'] ?? (nCpu >= 2 ? '0' : undefined);
const loadCpus = args['load-cpus'] ?? (nCpu >= 2 ? String(nCpu - 1) : undefined);
const allCpus = Array.from({ length: nCpu }, (_, i) => i);
const serverCpuList = serverCpus === undefined ? allCpus : cpuList(serverCpus);
const loadCpuList = loadCpus === undefined ? allCpus : cpuList(loadCpus);

// ---- progress display -------------------------------------------------------------------------------
const started = Date.now();
let step = 0;
let totalSteps = 0;
function progress(msg: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${t}s ${String(step).padStart(2)}/${totalSteps}] ${msg}\n`);
}

// ---- phases -----------------------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
const certs = ensureCerts(join(work, 'certs'));
const bodyFile = (name: string) => join(benchDir, 'bodies', name);
const allow2k = readFileSync(bodyFile('review-2k.json'));
const denyBody = readFileSync(bodyFile('review-deny.json'));
const policies = {
  seed: writePolicyFiles('seed', join(work, 'seed'), repoRoot),
  fifty: writePolicyFiles('fifty', join(work, 'fifty'), repoRoot),
  podsecurity: writePolicyFiles('podsecurity', join(work, 'podsecurity'), repoRoot),
};
const wrkThreads = loadCpuList.length;
// The harness itself (RSS sampling, process control) stays off the server cores too.
if (loadCpus !== undefined) pinSelf(loadCpus);

function context(variant: PolicyVariant): StartContext {
  return {
    repoRoot,
    benchDir,
    certs,
    policy: policies[variant],
    serverCpus,
    serverCores: serverCpuList.length,
    logDir: work,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? 0
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Start every contestant of a variant (in parallel), check that each answers like the others, and give
 * the ones that run. All stay up for the whole phase, frozen while another one is measured; the
 * unavailable ones get their reason recorded instead. With `settle`, returns `plan.settleS` after the
 * start at the earliest.
 */
async function startAll(
  variant: PolicyVariant,
  results: Record<string, ContestantResult>,
  which: ContestantName[],
  settle: boolean,
) {
  const startedAt = Date.now();
  const runningNow = new Map<ContestantName, Running>();
  const todo = which.filter((n) => results[n]!.unavailable === undefined);
  progress(`starting ${todo.join(', ')} (${variant} policy set) …`);
  const settled = await Promise.allSettled(todo.map((n) => startContestant(n, context(variant), allow2k)));
  // A contestant that does not start, or answers differently from the others, is reported with the reason
  // and left out; the others still run.
  const leaveOut = (n: ContestantName, why: string) => {
    // Unavailable for the main policy set voids its goals; for a 50-binding set only that set is skipped.
    if (variant === 'seed') results[n]!.unavailable = why;
    else results[n]!.skipped = { ...results[n]!.skipped, [variant]: why };
    progress(
      `${n}: ${variant === 'seed' ? 'unavailable' : `${variant} set skipped`} — ${why.split('\n')[0]}`,
    );
  };
  settled.forEach((s, i) => {
    const n = todo[i]!;
    if (s.status === 'fulfilled') {
      runningNow.set(n, s.value);
      running.add(s.value);
      results[n]!.command ??= s.value.command;
    } else {
      const e = s.reason as Error;
      leaveOut(n, e instanceof Unavailable ? e.message : `did not start: ${e.message}`);
    }
  });
  for (const [n, r] of [...runningNow]) {
    try {
      await checkAnswers(r, allow2k, denyBody);
    } catch (e) {
      leaveOut(n, `answers differ from the other contestants: ${(e as Error).message}`);
      await r.stop();
      running.delete(r);
      runningNow.delete(n);
    }
  }
  const wait = settle ? plan.settleS * 1000 - (Date.now() - startedAt) : 0;
  if (wait > 0 && runningNow.size > 0) {
    progress(`letting start-up work finish (${(wait / 1000).toFixed(1)} s) …`);
    await new Promise((r) => setTimeout(r, wait));
  }
  return runningNow;
}

async function stopAll(m: Map<ContestantName, Running>): Promise<void> {
  await Promise.all(
    [...m.values()].map(async (r) => {
      await r.stop();
      running.delete(r);
    }),
  );
}

/** Run `fn` with every other contestant of `up` frozen (see signalTree), thawing them afterwards. */
async function alone<T>(up: Map<ContestantName, Running>, r: Running, fn: () => Promise<T>): Promise<T> {
  const others = [...up.values()].filter((o) => o !== r);
  for (const o of others) signalTree(o.process, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    for (const o of others) signalTree(o.process, 'SIGCONT');
  }
}

/** The memory peak with the larger RSS sum (its unique and PSS figures come from the same sample). */
function higherPeak(a: MemoryPeak | undefined, b: MemoryPeak): MemoryPeak {
  if (a === undefined) return b;
  return { ...(b.peakMb > a.peakMb ? b : a), peakPssMb: Math.max(a.peakPssMb, b.peakPssMb) };
}

// A contestant left running would skew whatever runs next on this machine: stop them on ^C too.
const running = new Set<Running>();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`bench: ${sig}, stopping\n`);
    Promise.all([...running].map((r) => r.stop())).finally(() => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

async function wrkStep(
  r: Running,
  label: string,
  body: string,
  seconds: number,
  close = false,
): Promise<WrkResult & { cpuUsPerRequest: number }> {
  step++;
  progress(`${r.name}: ${label} (${seconds} s) …`);
  const cpu0 = treeCpuSeconds(r.process.child.pid!);
  const w = await runWrk({
    port: r.port,
    path: r.path,
    body,
    connections: 32,
    durationS: seconds,
    threads: wrkThreads,
    cpus: loadCpus,
    close,
    luaDir: join(benchDir, 'lib'),
  });
  // CPU the server spent per answered request: steadier than req/s when the machine is shared.
  const cpuUsPerRequest =
    w.requests > 0 ? Math.round(((treeCpuSeconds(r.process.child.pid!) - cpu0) * 1e6) / w.requests) : 0;
  progress(
    `${r.name}: ${label}: ${w.rps} req/s, p99 ${w.p99Ms} ms, ${cpuUsPerRequest} µs CPU/request` +
      `${w.errors ? `, ${w.errors} errors` : ''}`,
  );
  return { ...w, cpuUsPerRequest };
}

/** Steal time so far of the server's and the load's CPUs (one read of /proc/stat), or undefined. */
function stealNow(): { server: number; load: number } | undefined {
  const stat = readProcStat();
  const server = stealMs(serverCpuList, stat);
  const load = stealMs(loadCpuList, stat);
  return server === undefined || load === undefined ? undefined : { server, load };
}

async function latencyStep(r: Running, rate: number, label: string): Promise<LatencyRun> {
  step++;
  progress(`${r.name}: latency at ${Math.round(rate)} req/s (${label}), 25 conns, ${plan.latencyS} s …`);
  const pid = r.process.child.pid!;
  const [steal0, use0, t0] = [stealNow(), treeUsage(pid), Date.now()];
  const run = await runOpenLoopProcess({
    port: r.port,
    path: r.path,
    body: bodyFile('review-2k.json'),
    rate,
    connections: 25,
    durationS: plan.latencyS,
    warmupS: plan.warmupS,
    ca: certs.cert,
    cpus: loadCpus,
    benchDir,
  });
  const [steal1, use1, t1] = [stealNow(), treeUsage(pid), Date.now()];
  // Every request the generator sent, warm-up included, since the counters cover the warm-up too.
  const sent = Math.max(1, Math.round(run.achievedRps * (plan.latencyS + plan.warmupS)));
  const cpu = use1.cpuSeconds - use0.cpuSeconds;
  const server: ServerLoad = {
    cpuShare: Math.round((cpu / ((t1 - t0) / 1000) / serverCpuList.length) * 100) / 100,
    cpuUsPerRequest: Math.round((cpu * 1e6) / sent),
    switchesPerRequest: Math.round(((use1.switches - use0.switches) / sent) * 10) / 10,
  };
  const o: LatencyRun =
    steal0 === undefined || steal1 === undefined
      ? { ...run, server }
      : {
          ...run,
          server,
          stealMs: { server: steal1.server - steal0.server, load: steal1.load - steal0.load },
        };
  progress(
    `${r.name}: ${o.achievedRps} req/s: p50 ${o.latencyMs.p50} ms, p99 ${o.latencyMs.p99} ms, p99.9 ${o.latencyMs.p999} ms` +
      `${o.errors + o.non2xx ? `, ${o.errors + o.non2xx} errors` : ''}${o.unsent ? `, ${o.unsent} unsent` : ''}` +
      ` (${o.generator} generator's own lag p99 ${o.generatorLagP99Ms} ms` +
      `${o.stealMs && o.stealMs.server + o.stealMs.load > 0 ? `; hypervisor stole ${o.stealMs.server} / ${o.stealMs.load} ms of the server / load cpus` : ''})`,
  );
  return o;
}

/**
 * Latency of every contestant of `up` at its rate (none: skipped), `reps` runs each, interleaved across
 * contestants (bare 1, parse 1, …, bare 2, …) with the others frozen; each point is the run with the
 * median p99 (medianRun). A stall of the machine lands in one run of one contestant, not in a figure.
 */
async function latencyRounds(
  up: Map<ContestantName, Running>,
  rateOf: (n: ContestantName) => number | undefined,
  label: string,
  reps: number,
): Promise<Map<ContestantName, LatencyPoint>> {
  const runs = new Map<ContestantName, LatencyRun[]>();
  for (let i = 0; i < reps; i++) {
    for (const [n, r] of up) {
      const rate = rateOf(n);
      if (rate === undefined || !(rate > 0)) continue;
      const o = await alone(up, r, () =>
        latencyStep(r, rate, `${label}${reps > 1 ? `, run ${i + 1}/${reps}` : ''}`),
      );
      runs.set(n, [...(runs.get(n) ?? []), o]);
    }
  }
  return new Map([...runs].map(([n, rs]) => [n, medianRun(rs)]));
}

async function main(): Promise<void> {
  if (!hasWrk()) throw new Error('wrk is not installed: apt-get install -y wrk');
  if (!existsSync(join(benchDir, 'node_modules', 'hdr-histogram-js'))) {
    throw new Error(
      'the bench dependencies are not installed: npm run bench:setup (or npm --prefix bench ci)',
    );
  }
  const results: Record<string, ContestantResult> = {};
  for (const n of names) results[n] = { name: n };
  const notes: string[] = [];
  // What else runs now (3 s of /proc/stat; the load average also remembers the last minute, a previous
  // run included).
  const busy = await cpuBusy(3000);
  const load = loadavg()[0]!;
  if (busy === undefined ? load > nCpu * 0.5 : busy > 0.25) {
    const what =
      busy === undefined
        ? `load average ${load.toFixed(1)} on ${nCpu} cpus at the start`
        : `other processes used ${Math.round(busy * 100)} % of its ${nCpu} cpus in the 3 s before the start`;
    notes.push(`the machine was busy: ${what}, so these figures are noise, not a measurement`);
  }
  // The latency generator: the Go one (built on demand), or the Node one with the reason.
  const generator = latencyGenerator(benchDir);
  if (generator.kind === 'node') notes.push(generator.reason);
  progress(
    generator.kind === 'go'
      ? 'latency generator: bench/.bin/tollgate-loadgen (Go, built from bench/loadgen)'
      : `latency generator: ${generator.reason}`,
  );
  // "tollgate" runs as shipped (bin/tollgate.js on dist/) and "inline" loads dist/engine: build dist/ when
  // a source is newer. tsc still writes dist/ when it reports type errors; those are kept as a note.
  const needsDist = names.includes('tollgate') || names.includes('inline');
  if (needsDist && plan.mode !== 'smoke' && !args['skip-build'] && distIsStale(repoRoot)) {
    progress('building dist/ (npm run build) …');
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const out = `${(e as { stdout?: Buffer }).stdout ?? ''}`.trim().split('\n');
      notes.push(`npm run build reported ${out.length} type error line(s), first: ${out[0]}`);
      progress(`npm run build reported type errors (dist/ written anyway): ${out[0]}`);
    }
  }
  // Every point of the curve and the common rate, each repeated.
  const latencyRuns = (plan.fractions.length + 1) * plan.latencyReps;
  totalSteps =
    names.length * (1 + plan.reps + 2 + 1 + latencyRuns) +
    (plan.fifty
      ? names.filter((n) => n !== 'bare' && n !== 'parse').length * (plan.fiftyLatency ? 3 : 2)
      : 0) +
    (plan.fifty
      ? names.filter((n) => n === 'inline' || n === 'tollgate').length * (plan.fiftyLatency ? 3 : 2)
      : 0);
  progress(
    `${plan.mode} run: ${names.join(', ')}; server on cpu ${serverCpus ?? 'any'}, load (wrk, open-loop) on cpu ${loadCpus ?? 'any'}; ` +
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );

  // Saturation, repetition by repetition across the contestants (bare 1, parse 1, …, bare 2, …): a machine
  // whose speed drifts over the minutes a phase takes then moves every contestant's median alike, and the
  // ratios stay fair. Memory is sampled during these runs only.
  const saturate = async (up: Map<ContestantName, Running>): Promise<void> => {
    const reps = new Map<ContestantName, { rps: number[]; cpu: number[]; rss?: MemoryPeak }>();
    for (const [n, r] of up) {
      // Warm-up (JIT, allocator, Go's GC pacing): not recorded.
      await alone(up, r, () =>
        wrkStep(r, 'warm-up, 32 conns', bodyFile('review-2k.json'), Math.max(1, plan.warmupS)),
      );
      reps.set(n, { rps: [], cpu: [] });
    }
    for (let i = 0; i < plan.reps; i++) {
      for (const [n, r] of up) {
        const mine = reps.get(n)!;
        await alone(up, r, async () => {
          const rss = rssSampler(r.process.child.pid!);
          try {
            const w = await wrkStep(
              r,
              `saturation 2 KB, 32 conns, rep ${i + 1}/${plan.reps}`,
              bodyFile('review-2k.json'),
              plan.saturationS,
            );
            mine.rps.push(w.rps);
            mine.cpu.push(w.cpuUsPerRequest);
            results[n]!.errors = (results[n]!.errors ?? 0) + w.errors;
          } finally {
            mine.rss = higherPeak(mine.rss, rss.stop());
          }
        });
      }
    }
    for (const [n, m] of reps) {
      results[n]!.saturation = { rps: median(m.rps), reps: m.rps, cpuUsPerRequest: median(m.cpu) };
      if (m.rss !== undefined) results[n]!.rssMb = m.rss;
    }
  };

  // The latency curve at fractions of each contestant's own maximum (none without one), point by point
  // across the contestants, every point with repetitions.
  const latencyCurve = async (up: Map<ContestantName, Running>): Promise<void> => {
    for (const n of up.keys()) results[n]!.latency = [];
    for (const f of plan.fractions) {
      const points = await latencyRounds(
        up,
        (n) => f * (results[n]!.saturation?.rps ?? 0),
        `${Math.round(f * 100)} % of own max`,
        plan.latencyReps,
      );
      for (const [n, p] of points) results[n]!.latency!.push({ fraction: f, ...p });
    }
  };

  // The rest of one contestant's seed-set measurements: bodies, new connections.
  const measureAfterSaturation = async (r: Running, res: ContestantResult): Promise<void> => {
    const all = rssSampler(r.process.child.pid!);
    res.bodies = {};
    for (const size of ['20k', '1m'] as const) {
      const w = await wrkStep(
        r,
        `saturation ${size === '20k' ? '20 KB' : '1 MB'}, 32 conns`,
        bodyFile(`review-${size}.json`),
        plan.bodyS,
      );
      res.bodies[size] = { rps: w.rps, p99Ms: w.p99Ms, errors: w.errors };
    }
    const c = await wrkStep(
      r,
      'new TLS connection per request, 32 conns',
      bodyFile('review-2k.json'),
      plan.connectS,
      true,
    );
    res.connectionsPerS = c.rps;
    res.rssPeakAllMb = all.stop();
  };

  // Phase 1: saturation and the latency curve (repetitions interleaved across contestants), then one
  // contestant at a time: bodies, new connections.
  let up = await startAll('seed', results, names, true);
  let commonRate = 0;
  try {
    await saturate(up);
    await latencyCurve(up);
    for (const [n, r] of up) {
      await alone(up, r, () => measureAfterSaturation(r, results[n]!));
    }

    // Phase 2: latency at one common rate that every contestant sustains (70 % of the slowest one's max).
    const maxes = [...up.keys()].map((n) => results[n]!.saturation?.rps ?? 0).filter((x) => x > 0);
    commonRate = maxes.length > 0 ? Math.round(GOAL_FRACTION * Math.min(...maxes)) : 0;
    if (commonRate > 0) {
      const points = await latencyRounds(up, () => commonRate, 'common rate', plan.latencyReps);
      for (const [n, p] of points) results[n]!.commonRate = p;
    }
  } finally {
    await stopAll(up);
  }

  // Phase 3: 50-binding policy sets (bare answers a constant: nothing to compare there). "fifty" is the
  // seed rule 50 times, with its Rego twin for OPA; "podsecurity" is 50 bindings of the Pod-security
  // ports in rules/, Tollgate only.
  if (plan.fifty) {
    const sets = [
      { variant: 'fifty', label: '50 bindings', who: names.filter((n) => n !== 'bare' && n !== 'parse') },
      {
        variant: 'podsecurity',
        label: '50 pod-security bindings',
        who: names.filter((n) => n === 'inline' || n === 'tollgate'),
      },
    ] as const;
    for (const set of sets) {
      if (set.who.length === 0) continue;
      up = await startAll(set.variant, results, [...set.who], plan.fiftyLatency);
      try {
        for (const [n, r] of up) {
          await alone(up, r, async () => {
            await wrkStep(r, `${set.label}, warm-up`, bodyFile('review-2k.json'), Math.max(1, plan.warmupS));
            const w = await wrkStep(
              r,
              `${set.label}, saturation 2 KB, 32 conns`,
              bodyFile('review-2k.json'),
              plan.saturationS,
            );
            const o = plan.fiftyLatency
              ? await latencyStep(r, GOAL_FRACTION * w.rps, `${set.label}, 70 % of own max`)
              : undefined;
            results[n]![set.variant] = { rps: w.rps, ...(o ? { p99Ms: o.latencyMs.p99 } : {}) };
          });
        }
      } finally {
        await stopAll(up);
      }
    }
  }

  const out: BenchResults = {
    schema: 1,
    date: new Date().toISOString(),
    mode: plan.mode,
    commit: commitOf(repoRoot),
    machine: machineDescription(),
    setup: {
      serverCpus: serverCpus ?? 'not pinned',
      loadCpus: loadCpus ?? 'not pinned',
      tls: certs.description,
      saturation: `wrk -t${wrkThreads} -c32, ${plan.saturationS} s × ${plan.reps}${plan.reps > 1 ? ', repetitions interleaved across contestants' : ''}`,
      servers:
        'all contestants of a phase are started together; the others are frozen (SIGSTOP) while one is measured',
      latency:
        `open-loop constant rate (${generatorName(generator)}), 25 keep-alive conns, ${plan.latencyS} s after ${plan.warmupS} s warm-up` +
        (plan.latencyReps > 1
          ? `; at 70 % and at the common rate ${plan.latencyReps} runs interleaved across contestants, the median p99 counts`
          : ''),
      generator: generator.kind,
      policies: {
        seed: `${policies.seed.bindingCount} binding`,
        fifty: `${policies.fifty.bindingCount} bindings (${policies.fifty.applying} apply to the benchmark Pod)`,
        podsecurity: `${policies.podsecurity.bindingCount} bindings of the Pod-security policies in rules/ (${policies.podsecurity.applying} apply)`,
      },
      ...(busy !== undefined ? { cpuBusyAtStart: Math.round(busy * 100) / 100 } : {}),
      loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    notes,
    commonRate,
    contestants: results,
    ratios: ratios(results),
    cpu_efficiency_ratios: cpuRatios(results),
    p99_ms: Object.fromEntries(names.map((n) => [n, p99At70(results[n]!)])),
    rss_mb: Object.fromEntries(names.map((n) => [n, results[n]!.rssMb?.peakMb ?? null])),
    cpu_us_per_request: Object.fromEntries(
      names.map((n) => [n, results[n]!.saturation?.cpuUsPerRequest ?? null]),
    ),
    goals: [],
  };
  out.goals = evaluateGoals(out);
  writeResults(out);
  for (const n of notes) progress(`note: ${n}`);
  for (const g of out.goals) progress(`goal ${g.status.toUpperCase().padEnd(4)} ${g.goal}: ${g.detail}`);
}

function generatorName(g: LatencyGenerator): string {
  return g.kind === 'go' ? 'Go generator bench/loadgen' : 'Node generator lib/open-loop.ts';
}

function p99At70(r: ContestantResult): number | null {
  return goalPoint(r)?.latencyMs.p99 ?? null;
}

type Ratios = BenchResults['ratios'];

/** a/b of a per-contestant figure, for the pairs the goals name (null when either is missing). */
function pairs(value: (n: string) => number | undefined): Ratios {
  const ratio = (a: string, b: string) => {
    const x = value(a);
    const y = value(b);
    return x !== undefined && y !== undefined && x > 0 && y > 0 ? Math.round((x / y) * 1000) / 1000 : null;
  };
  return {
    tollgate_vs_opa: ratio('tollgate', 'opa'),
    tollgate_vs_bare: ratio('tollgate', 'bare'),
    tollgate_vs_inline: ratio('tollgate', 'inline'),
    inline_vs_opa: ratio('inline', 'opa'),
    inline_vs_bare: ratio('inline', 'bare'),
    parse_vs_bare: ratio('parse', 'bare'),
    tollgate_vs_parse: ratio('tollgate', 'parse'),
  };
}

function ratios(results: Record<string, ContestantResult>): Ratios {
  return pairs((n) => results[n]?.saturation?.rps);
}

/** Requests per CPU second, a over b: the same comparison, less sensitive to a shared machine. */
function cpuRatios(results: Record<string, ContestantResult>): Ratios {
  return pairs((n) => {
    const us = results[n]?.saturation?.cpuUsPerRequest;
    return us ? 1e6 / us : undefined;
  });
}

function writeResults(out: BenchResults): void {
  // A smoke run proves the harness, it does not measure: it never replaces the committed results.
  const dir = resolve(
    args.out ?? (plan.mode === 'smoke' ? join(tmpdir(), 'tollgate-bench-smoke') : join(benchDir, 'results')),
  );
  mkdirSync(join(dir, 'history'), { recursive: true });
  const stamp = out.date.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const json = `${JSON.stringify(out, null, 2)}\n`;
  writeFileSync(join(dir, 'latest.json'), json);
  writeFileSync(join(dir, 'latest.md'), renderMarkdown(out));
  writeFileSync(join(dir, 'latest.svg'), renderSvg(out));
  copyFileSync(join(dir, 'latest.json'), join(dir, 'history', `${stamp}-${out.mode}.json`));
  progress(`wrote ${join(dir, 'latest.json')}, latest.md, latest.svg and history/${stamp}-${out.mode}.json`);
}

main()
  .then(
    () => 0,
    (e: unknown) => {
      process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      return 1;
    },
  )
  .then((code) => {
    rmSync(work, { recursive: true, force: true });
    process.exit(code);
  });
