// Processes: start pinned to cores, wait for readiness, stop (always), and measure the RSS of a whole
// process tree from /proc (primary + workers + anything they forked).
import { type ChildProcess, execFileSync, type StdioOptions, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect } from 'node:tls';

export interface Started {
  readonly child: ChildProcess;
  /** stdout+stderr collected so far (bounded), for error messages. */
  output(): string;
  /** Resolves when the process has exited (code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const hasTaskset = existsSync('/usr/bin/taskset');

/**
 * Pin this process (every thread) to `cpus`, so the harness's own work stays off the server's CPUs.
 * False when it could not (no taskset): the children are not pinned either, and the output says so.
 */
export function pinSelf(cpus: string): boolean {
  if (!hasTaskset) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Spawn `cmd args` pinned to `cpus` (a taskset list like "0" or "0,1"); undefined = not pinned. */
export function startProcess(
  cmd: string,
  args: readonly string[],
  opts: { cpus?: string; cwd?: string; env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {},
): Started {
  const pinned = opts.cpus !== undefined && hasTaskset;
  const child = spawn(pinned ? 'taskset' : cmd, pinned ? ['-c', opts.cpus!, cmd, ...args] : [...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  return { child, output: () => out, exited };
}

/** Stop a process and its group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(p: Started, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const pids = [p.child.pid!, ...descendants(p.child.pid!)];
  signalPids(pids, 'SIGCONT'); // a frozen process would not act on SIGTERM
  p.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([p.exited, timer])) === 'timeout') p.child.kill('SIGKILL');
  await p.exited;
  // Children that outlived their parent (a primary killed before its workers): end them by pid.
  signalPids(pids.slice(1), 'SIGKILL');
}

/**
 * Freeze (SIGSTOP) or thaw (SIGCONT) a process and its descendants. The harness freezes the contestants
 * it is not measuring: an idle server is not idle for the core it shares (V8's memory reducer runs a
 * full GC some 8 s after start, Go forces one every 2 minutes, timers wake every few ms), and that work
 * would land in whichever contestant is measured at the time.
 */
export function signalTree(p: Started, signal: 'SIGSTOP' | 'SIGCONT'): void {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  signalPids([p.child.pid!, ...descendants(p.child.pid!)], signal);
}

/** Signal each pid that is still there; parents first, so that SIGSTOP leaves no child forked meanwhile. */
function signalPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

/** Wait for a line of JSON with a `port` field on the process's stdout. */
export function waitForPortLine(p: Started, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`no "port" line within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        try {
          const v = JSON.parse(line) as { port?: unknown };
          if (typeof v.port === 'number') {
            cleanup();
            resolve(v.port);
            return;
          }
        } catch {
          // not our line
        }
      }
    };
    const onExit = () => fail(new Error('exited before listening'));
    const cleanup = () => {
      clearTimeout(timer);
      p.child.stdout?.off('data', onData);
      p.child.off('exit', onExit);
    };
    const fail = (e: Error) => {
      cleanup();
      reject(e);
    };
    p.child.stdout?.on('data', onData);
    p.child.once('exit', onExit);
  });
}

/** A port that was free a moment ago (for servers that need to be told their port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One HTTPS POST over a fresh TLS connection; resolves with the status and body. */
export function post(
  port: number,
  path: string,
  body: Buffer,
  timeoutMs = 5000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no response within ${timeoutMs} ms`));
    }, timeoutMs);
    const chunks: Buffer[] = [];
    s.once('secureConnect', () => {
      s.write(
        `POST ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      s.write(body);
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString();
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        reject(new Error('connection closed without a response'));
        return;
      }
      const head = text.slice(0, end);
      let payload = text.slice(end + 4);
      if (/\r\ntransfer-encoding: chunked/i.test(head)) payload = dechunk(payload);
      resolve({ status: Number(head.slice(9, 12)), body: payload });
    });
  });
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const nl = s.indexOf('\r\n', i);
    if (nl < 0) return out;
    const n = Number.parseInt(s.slice(i, nl), 16);
    if (!(n > 0)) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
}

/** Poll until `probe` succeeds, the process exits, or the deadline passes. */
export async function waitUntil(p: Started, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  p.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error('exited before becoming ready');
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready within ${timeoutMs} ms`);
}

function childrenOf(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid) ?? [];
      list.push(Number(name));
      map.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  return map;
}

export function descendants(pid: number): number[] {
  const map = childrenOf();
  const out: number[] = [];
  const stack = [...(map.get(pid) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(map.get(p) ?? []));
  }
  return out;
}

export interface TreeMemory {
  /** Sum of VmRSS over the tree, MB: pages shared between processes (node's own code) count once each. */
  readonly mb: number;
  /** Sum of Pss (proportional set size), MB: shared pages split between the processes sharing them. */
  readonly pssMb: number;
  /**
   * Resident pages of the tree counted once however many of its processes map them, MB: what stopping the
   * tree would give back (plus page cache). Read from /proc/<pid>/pagemap, which shows page frames to root
   * only; undefined otherwise.
   */
  readonly uniqueMb?: number;
  readonly processes: number;
}

const mbOf = (kb: number) => Math.round(kb / 102.4) / 10;
const PAGE = 4096;

/**
 * Add the page frames of a process's resident pages to `frames`; false when the kernel hides them (not
 * root). Only mappings with resident pages are read (V8 reserves far more address space than it uses).
 */
function addFrames(pid: number, frames: Set<number>): boolean {
  const ranges: [number, number][] = [];
  let range: [number, number] | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) range = [Number.parseInt(m[1]!, 16), Number.parseInt(m[2]!, 16)];
    else if (range !== undefined && line.startsWith('Rss:') && !/^Rss:\s+0 kB/.test(line)) ranges.push(range);
  }
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  let visible = false;
  try {
    for (const [start, end] of ranges) {
      const pages = (end - start) / PAGE;
      const buf = Buffer.alloc(pages * 8);
      const got = readSync(fd, buf, 0, buf.length, (start / PAGE) * 8);
      for (let i = 0; i + 8 <= got; i += 8) {
        const high = buf.readUInt32LE(i + 4);
        if ((high & 0x80000000) === 0) continue; // not present (bit 63)
        const frame = (high & 0x7fffff) * 2 ** 32 + buf.readUInt32LE(i); // bits 0-54
        if (frame === 0) continue;
        visible = true;
        frames.add(frame);
      }
    }
  } finally {
    closeSync(fd);
  }
  return visible;
}

/** Memory of a process and all its descendants, from /proc/<pid>/status, smaps_rollup and (unique) pagemap. */
export function treeRssMb(pid: number, unique = false): TreeMemory {
  let kb = 0;
  let pss = 0;
  let n = 0;
  const frames = new Set<number>();
  let framesVisible = unique;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (!m) continue;
      kb += Number(m[1]);
      n++;
      const q = /\nPss:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      pss += q ? Number(q[1]) : Number(m[1]);
      if (framesVisible) framesVisible = addFrames(p, frames);
    } catch {
      // exited meanwhile
    }
  }
  return {
    mb: mbOf(kb),
    pssMb: mbOf(pss),
    ...(framesVisible ? { uniqueMb: mbOf((frames.size * PAGE) / 1024) } : {}),
    processes: n,
  };
}

export interface MemoryPeak {
  readonly peakMb: number;
  readonly peakPssMb: number;
  /** Unique resident MB (see TreeMemory.uniqueMb) at the sample with the highest RSS sum. */
  readonly peakUniqueMb?: number;
  readonly processes: number;
}

/**
 * Sample a tree's memory every `everyMs` until stopped; gives the peaks. Page frames (unique MB) are read
 * only when the RSS sum reaches a new peak: reading pagemap costs milliseconds of CPU. Not for latency
 * runs: reading smaps_rollup, smaps and pagemap holds the process's mmap lock, stalling its mmap and
 * munmap calls (V8's GC makes them) for as long: p99 at 20k req/s went from 1.8 to 4 ms (rollup every
 * 500 ms) and to 18 ms (with pagemap).
 */
export function rssSampler(pid: number, everyMs = 500): { stop(): MemoryPeak } {
  let peak = treeRssMb(pid, true);
  let peakPss = peak.pssMb;
  const sample = () => {
    const now = treeRssMb(pid);
    if (now.mb > peak.mb) peak = treeRssMb(pid, true);
    peakPss = Math.max(peakPss, now.pssMb);
  };
  const t = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(t);
      sample();
      return {
        peakMb: peak.mb,
        peakPssMb: peakPss,
        ...(peak.uniqueMb !== undefined ? { peakUniqueMb: peak.uniqueMb } : {}),
        processes: peak.processes,
      };
    },
  };
}

/** CPU time (user + system) used so far by a process tree, in seconds (clock ticks of 10 ms). */
export function treeCpuSeconds(pid: number): number {
  return cpuSecondsOf([pid, ...descendants(pid)]);
}

/**
 * A process tree's CPU seconds (treeCpuSeconds) and context switches so far, its processes listed once.
 * Switches are counted over every thread, voluntary and involuntary (/proc/<pid>/task/<tid>/status): on
 * one core each hand-over between an event loop and a pool thread is one.
 */
export function treeUsage(pid: number): { cpuSeconds: number; switches: number } {
  const pids = [pid, ...descendants(pid)];
  return { cpuSeconds: cpuSecondsOf(pids), switches: contextSwitchesOf(pids) };
}

function cpuSecondsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / 100;
}

function contextSwitchesOf(pids: readonly number[]): number {
  let n = 0;
  for (const p of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      try {
        const status = readFileSync(`/proc/${p}/task/${tid}/status`, 'utf8');
        for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
      } catch {
        // exited meanwhile
      }
    }
  }
  return n;
}

/** Jiffies of the machine's CPUs from /proc/stat: total, and idle (idle + iowait). */
function cpuJiffies(stat = readProcStat()): { total: number; idle: number } | undefined {
  if (stat === undefined) return undefined;
  const f = stat.slice(0, stat.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: (f[3] ?? 0) + (f[4] ?? 0) };
}

/**
 * How busy the machine's CPUs are right now (0–1, over `ms`), from /proc/stat; undefined where there is
 * none. Unlike the load average, this does not remember the last minute (a previous bench run, say).
 */
export async function cpuBusy(ms: number): Promise<number | undefined> {
  const a = cpuJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuJiffies();
  if (a === undefined || b === undefined || b.total <= a.total) return undefined;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

/** The CPUs of a taskset list ("0", "0,2-3"). */
export function cpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (m === null) throw new Error(`not a CPU list: ${JSON.stringify(list)}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/**
 * Steal time of some CPUs so far, in ms (/proc/stat, clock ticks of 10 ms): time the hypervisor ran
 * something else while these virtual CPUs had work. Undefined where /proc/stat has no steal column.
 */
export function stealMs(cpus: readonly number[], stat = readProcStat()): number | undefined {
  if (stat === undefined) return undefined;
  const wanted = new Set(cpus.map((c) => `cpu${c}`));
  let ticks = 0;
  let seen = 0;
  for (const line of stat.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!wanted.has(f[0]!)) continue;
    // cpuN user nice system idle iowait irq softirq steal …
    if (f.length < 9) return undefined;
    ticks += Number(f[8]);
    seen++;
  }
  return seen === wanted.size ? ticks * 10 : undefined;
}

/** /proc/stat as text, read once for every figure taken from it at one moment; undefined without one. */
export function readProcStat(): string | undefined {
  try {
    return readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
}
