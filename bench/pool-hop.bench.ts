// Pool hop micro-benchmark: what evaluating on piscina threads costs against evaluating inline, no HTTP.
//
//   node --import tsx bench/pool-hop.bench.ts            (about 60 s on the 2-core machine)
//   node --import tsx bench/pool-hop.bench.ts --quick    (shorter rounds: a smoke check)
//
// Every contestant runs the seed policy (rules/seed-image-check with examples/seed/binding.yaml) on the
// 2 KB review of bench/bodies/review-2k.json, bytes in → encoded body out, under a closed loop of 1, 16
// and 64 concurrent callers. Contestants:
//   inline          InlineEngine: decode, evaluate, encode on the calling thread;
//   pool-1/single   PoolEngine, 1 thread, one request per hop (maxBatch 1): no batching;
//   pool-1          PoolEngine, 1 thread, requests batched while the thread is busy (the default);
//   pool-2          PoolEngine, 2 threads, batched.
// Reported per cell: median over rounds of wall ns per decision and decisions per second, process CPU ns
// per decision (all threads: what a one-core server pays), and the throughput ratio to inline at the same
// concurrency.
//
// A second table isolates the hop itself (an echo of a 2 KB buffer, one at a time) over the transports
// considered for the pool: a piscina task per message (piscina.run), a plain MessagePort (what the pool's
// lanes use), and a SharedArrayBuffer ring woken with Atomics.notify / Atomics.waitAsync, its thread either
// blocking in Atomics.wait or waiting with Atomics.waitAsync.
// Results: bench/results/pool-hop.json (and the tables on stdout).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { type Engine, InlineEngine, type LoadOptions, loadSource } from '../src/engine/engine.js';
import { PoolEngine } from '../src/engine/pool.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 3;
const ROUND_MS = quick ? 300 : 1000;
const WARMUP_MS = quick ? 300 : 700;
const CONCURRENCY = [1, 16, 64];

interface Cell {
  contestant: string;
  concurrency: number;
  nsPerDecision: number;
  cpuNsPerDecision: number;
  perSecond: number;
  ratioToInline?: number;
}

/** Closed loop: `concurrency` callers, each sending its next request when the previous one is answered. */
async function round(engine: Engine, body: Uint8Array, concurrency: number, ms: number) {
  let done = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const r = await engine.evaluate({ body, endpoint: 'validate' });
        if (r.status !== 200) failed++;
        done++;
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (failed > 0) throw new Error(`${failed} of ${done} requests failed`);
  return { done, elapsedMs: elapsed, cpuUs: cpu.user + cpu.system };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(contestant: string, engine: Engine, body: Uint8Array): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const concurrency of CONCURRENCY) {
    await round(engine, body, concurrency, WARMUP_MS);
    const rounds = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await round(engine, body, concurrency, ROUND_MS));
    cells.push({
      contestant,
      concurrency,
      nsPerDecision: median(rounds.map((r) => (r.elapsedMs * 1e6) / r.done)),
      cpuNsPerDecision: median(rounds.map((r) => (r.cpuUs * 1e3) / r.done)),
      perSecond: median(rounds.map((r) => (r.done * 1000) / r.elapsedMs)),
    });
    process.stderr.write(`${contestant} c=${concurrency}: ${Math.round(cells.at(-1)!.perSecond)}/s\n`);
  }
  return cells;
}

interface Hop {
  transport: string;
  wallNsPerRoundTrip: number;
  cpuNsPerRoundTrip: number;
}

async function timeHop(transport: string, n: number, once: (i: number) => Promise<unknown>): Promise<Hop> {
  for (let i = 0; i < Math.min(1000, n); i++) await once(i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await once(i);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    transport,
    wallNsPerRoundTrip: (wall * 1e6) / n,
    cpuNsPerRoundTrip: ((cpu.user + cpu.system) * 1e3) / n,
  };
}

/** Echo round trips over each transport, one at a time (no batching). */
async function hops(root: string, body: Uint8Array): Promise<Hop[]> {
  const n = quick ? 2000 : 10_000;
  const echo = join(root, 'echo.mjs');
  writeFileSync(echo, 'export default function echo(x) { return x; }\n');
  const out: Hop[] = [];
  const piscina = new Piscina({ filename: pathToFileURL(echo).href, minThreads: 1, maxThreads: 1 });
  try {
    out.push(await timeHop('piscina.run per message', n, () => piscina.run(body)));
  } finally {
    await piscina.destroy();
  }
  const port = new Worker(
    "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m, m instanceof ArrayBuffer ? [m] : []));",
    { eval: true },
  );
  try {
    out.push(
      await timeHop(
        'MessagePort, body copied each way',
        n,
        () =>
          new Promise((resolve) => {
            port.once('message', resolve);
            port.postMessage(body);
          }),
      ),
    );
    // As the pool's lanes send a batch: one fresh buffer, transferred there and back.
    out.push(
      await timeHop(
        'MessagePort, buffer transferred (pool lanes)',
        n,
        () =>
          new Promise((resolve) => {
            const buf = body.slice().buffer;
            port.once('message', resolve);
            port.postMessage(buf, [buf]);
          }),
      ),
    );
  } finally {
    await port.terminate();
  }
  // The ring: the thread waits on a sequence number, copies the request out of shared memory and back,
  // bumps the answer counter; the main thread waits with Atomics.waitAsync. The thread either blocks in
  // Atomics.wait (its event loop never runs) or waits with Atomics.waitAsync like the main thread (its
  // event loop stays free for control messages, which is what a pool thread needs).
  const threadLoops = {
    'SharedArrayBuffer ring + Atomics (thread blocks in wait)': `let seen = 0;
     for (;;) { Atomics.wait(seq, 0, seen); seen = Atomics.load(seq, 0); res.set(req); Atomics.store(seq, 1, seen); Atomics.notify(seq, 1); }`,
    'SharedArrayBuffer ring + Atomics (waitAsync on both sides)': `let seen = 0;
     const loop = () => {
       const w = Atomics.waitAsync(seq, 0, seen);
       const go = () => { seen = Atomics.load(seq, 0); res.set(req); Atomics.store(seq, 1, seen); Atomics.notify(seq, 1); loop(); };
       if (w.async) w.value.then(go); else go();
     };
     loop(); setInterval(() => {}, 60_000);`,
  };
  for (const [label, loop] of Object.entries(threadLoops)) {
    const shared = new SharedArrayBuffer(8 + 2 * body.byteLength);
    const seq = new Int32Array(shared, 0, 2);
    const ring = new Worker(
      `const { workerData: { shared, size } } = require('node:worker_threads');
       const seq = new Int32Array(shared, 0, 2); const req = new Uint8Array(shared, 8, size); const res = new Uint8Array(shared, 8 + size, size);
       ${loop}`,
      { eval: true, workerData: { shared, size: body.byteLength } },
    );
    const req = new Uint8Array(shared, 8, body.byteLength);
    try {
      let k = 0;
      out.push(
        await timeHop(label, n, async () => {
          k++;
          req.set(body);
          Atomics.store(seq, 0, k);
          Atomics.notify(seq, 0);
          while (Atomics.load(seq, 1) !== k) {
            const w = Atomics.waitAsync(seq, 1, Atomics.load(seq, 1));
            if (w.async) await w.value;
          }
        }),
      );
    } finally {
      await ring.terminate();
    }
  }
  return out;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-pool-hop-'));
  try {
    mkdirSync(join(root, 'rules'));
    cpSync(join(repoRoot, 'rules/seed-image-check'), join(root, 'rules/seed-image-check'), {
      recursive: true,
    });
    const load: LoadOptions = {
      rules: join(root, 'rules'),
      configs: [join(repoRoot, 'examples/seed/binding.yaml')],
      data: [],
      cacheDir: join(root, 'cache'),
    };
    const body = new Uint8Array(readFileSync(join(repoRoot, 'bench/bodies/review-2k.json')));
    const source = await loadSource(load);
    const contestants: [string, () => Promise<Engine>][] = [
      ['inline', () => InlineEngine.create(load)],
      ['pool-1/single', () => PoolEngine.create(source, { threads: 1, maxBatch: 1 })],
      ['pool-1', () => PoolEngine.create(source, { threads: 1 })],
      ['pool-2', () => PoolEngine.create(source, { threads: 2 })],
    ];
    const hop = await hops(root, body);
    const cells: Cell[] = [];
    for (const [name, create] of contestants) {
      const engine = await create();
      try {
        cells.push(...(await measure(name, engine, body)));
      } finally {
        await engine.close();
      }
    }
    for (const c of cells) {
      const inline = cells.find((x) => x.contestant === 'inline' && x.concurrency === c.concurrency)!;
      c.ratioToInline = c.perSecond / inline.perSecond;
    }
    const rows = cells.map(
      (c) =>
        `| ${c.contestant} | ${c.concurrency} | ${Math.round(c.nsPerDecision)} | ${Math.round(c.cpuNsPerDecision)} | ${Math.round(c.perSecond)} | ${c.ratioToInline!.toFixed(2)} |`,
    );
    const table = [
      '| contestant | concurrency | wall ns/decision | CPU ns/decision (all threads) | decisions/s | ratio to inline |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      loadavg: loadavg().map((l) => Number(l.toFixed(2))),
      body: 'bench/bodies/review-2k.json',
      policy: 'seed-image-check (examples/seed/binding.yaml)',
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      cells,
      hops: hop,
    };
    const out = join(repoRoot, 'bench/results', quick ? 'tmp' : '');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'pool-hop.json'), `${JSON.stringify(result, null, 2)}\n`);
    const hopTable = [
      '| transport (2 KB echo, one at a time) | wall ns/round trip | CPU ns/round trip (all threads) |',
      '|---|---:|---:|',
      ...hop.map(
        (h) =>
          `| ${h.transport} | ${Math.round(h.wallNsPerRoundTrip)} | ${Math.round(h.cpuNsPerRoundTrip)} |`,
      ),
    ].join('\n');
    process.stdout.write(
      `${table}\n\n${hopTable}\n\nload average ${result.loadavg.join(' ')} on ${result.cpus} CPUs\n`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
