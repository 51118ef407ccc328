// Reading `perf script` output of the server's CPU into "what a request costs, and where": every sample is
// given to a thread role (the worker's event loop, its pool thread, V8/libuv helper threads, the primary,
// idle, anything else) and to a cost category (JSON.parse, policy evaluation, the hand-over between event
// loop and pool thread, TLS/HTTP, the kernel's TCP, GC, ...), then turned into CPU µs per request.
//
// perf script -F comm,pid,tid,period,ip,sym,dso prints, per sample, a header `comm pid/tid period` and
// one frame per line, leaf first: `ip symbol (dso)`. JIT frames are named by the perf map V8 writes with
// --perf-basic-prof (`JS:*name file:///…/x.js:10:36`).

export interface Frame {
  readonly sym: string;
  readonly dso: string;
}

export interface Sample {
  readonly comm: string;
  readonly pid: number;
  readonly tid: number;
  /** Leaf first. */
  readonly frames: readonly Frame[];
}

const HEADER = /^(\S.*?)\s+(\d+)\/(\d+)\s+\d+\s*$/;
const FRAME = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$/;

export function parsePerfScript(text: string): Sample[] {
  const out: Sample[] = [];
  let cur: { comm: string; pid: number; tid: number; frames: Frame[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (cur) out.push(cur);
      cur = undefined;
      continue;
    }
    const h = cur === undefined ? HEADER.exec(line) : null;
    if (h) {
      cur = { comm: h[1]!, pid: Number(h[2]), tid: Number(h[3]), frames: [] };
      continue;
    }
    const f = FRAME.exec(line);
    if (cur && f) cur.frames.push({ sym: stripOffset(f[1]!), dso: f[2]! });
  }
  if (cur) out.push(cur);
  return out;
}

function stripOffset(sym: string): string {
  return sym.replace(/\+0x[0-9a-f]+$/, '');
}

export const ROLES = ['event loop', 'pool thread', 'helper threads', 'primary', 'other', 'idle'] as const;
export type Role = (typeof ROLES)[number];

export const CATEGORIES = [
  'JSON.parse',
  'policy evaluation',
  'review decode + answer encode',
  'hand-over (messages, wake-ups)',
  'webhook handler (our event-loop JS)',
  'metrics',
  'TLS + HTTP (uWS)',
  'kernel TCP + epoll',
  'scheduler (context switches)',
  'GC',
  'other (V8, Node, libc)',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Processes {
  readonly primary: number;
  /** The worker processes (descendants of the primary). */
  readonly workers: readonly number[];
}

/** Which role each (pid, tid) plays: a worker thread whose stacks pass through node::worker::Worker::Run is a pool thread. */
export function threadRoles(samples: readonly Sample[], procs: Processes): Map<number, Role> {
  const roles = new Map<number, Role>();
  const workers = new Set(procs.workers);
  for (const s of samples) {
    if (roles.get(s.tid) === 'pool thread') continue;
    let role: Role;
    if (s.pid === 0) role = 'idle';
    else if (s.pid === procs.primary) role = 'primary';
    else if (!workers.has(s.pid)) role = 'other';
    else if (s.tid === s.pid) role = 'event loop';
    else if (s.frames.some((f) => f.sym.includes('node::worker::Worker::Run'))) role = 'pool thread';
    else role = 'helper threads';
    roles.set(s.tid, role);
  }
  return roles;
}

const KERNEL = '[kernel.kallsyms]';
const GC =
  /Heap::|Scavenge|MarkCompact|Sweeper|ConcurrentMarking|IncrementalMarking|MinorMarkSweep|GCTracer|MemoryReducer/;
const JSON_PARSE = /JsonParser|Builtin_JsonParse/;
const HAND_OVER_NATIVE = /MessagePort::|uv__async|node::worker::Message|SharedArrayBuffer|Atomics/;
const SCHEDULER =
  /^(finish_task_switch|__schedule|schedule|__switch_to|switch_mm|pick_next_task|dequeue_task|enqueue_task|try_to_wake_up)/;
const FUTEX_EVENTFD = /futex|eventfd/;
const NETWORK =
  /tcp_|sendto|recvfrom|sendmsg|recvmsg|sock_|__sys_send|__sys_recv|epoll|ep_poll|ip_|__netif|net_rx|skb|__dev_queue|loopback|inet_/;

/** The cost category of one sample (its role decides nothing here, except that idle has no category). */
export function categorize(frames: readonly Frame[]): Category {
  const leaf = frames[0];
  if (leaf === undefined) return 'other (V8, Node, libc)';
  // Kernel work at the leaf: the syscall or interrupt it serves decides.
  if (leaf.dso === KERNEL) {
    const kernel = frames.filter((f) => f.dso === KERNEL);
    if (kernel.some((f) => SCHEDULER.test(f.sym))) return 'scheduler (context switches)';
    if (kernel.some((f) => FUTEX_EVENTFD.test(f.sym))) return 'hand-over (messages, wake-ups)';
    if (kernel.some((f) => NETWORK.test(f.sym))) return 'kernel TCP + epoll';
  }
  const syms = frames.map((f) => f.sym);
  if (syms.some((s) => GC.test(s))) return 'GC';
  if (syms.some((s) => JSON_PARSE.test(s))) return 'JSON.parse';
  if (leaf.dso.includes('uws_')) return 'TLS + HTTP (uWS)';
  if (/JsonStringifier|Utf8Decoder/.test(leaf.sym)) return 'review decode + answer encode';
  const js = frames.find((f) => f.sym.startsWith('JS:'));
  if (js !== undefined) return byJsFrame(js.sym);
  if (syms.some((s) => HAND_OVER_NATIVE.test(s))) return 'hand-over (messages, wake-ups)';
  if (frames.some((f) => f.dso.includes('uws_'))) return 'TLS + HTTP (uWS)';
  if (leaf.dso === KERNEL) return 'kernel TCP + epoll';
  return 'other (V8, Node, libc)';
}

/** The innermost JavaScript frame names the code a sample works for. */
function byJsFrame(sym: string): Category {
  if (/\/(engine\/(evaluate|context|match|bindings|policy-set)|sdk\/)|tollgate-cache|\/rules\//.test(sym))
    return 'policy evaluation';
  if (/\/admission\/|\/engine\/(handle|reply|patch)\.js/.test(sym)) return 'review decode + answer encode';
  // The pool thread's own tally (Tally.count in engine/thread.ts) is metrics too.
  if (/\/metrics\/|prom-client|internal\/perf\/observe|^JS:\S*count \S*\/engine\/thread\.js/.test(sym))
    return 'metrics';
  if (
    /\/engine\/(pool|pool-lanes|thread)\.js|\/ipc\/|per_context\/messageport|internal\/event_target|internal\/worker/.test(
      sym,
    )
  )
    return 'hand-over (messages, wake-ups)';
  if (/\/worker\/|internal\/timers|node:timers/.test(sym)) return 'webhook handler (our event-loop JS)';
  return 'other (V8, Node, libc)';
}

export interface PhaseProfile {
  /** Requests answered while perf recorded. */
  readonly requests: number;
  readonly seconds: number;
  /** Share of the server CPU's samples that were idle. */
  readonly idleShare: number;
  /** CPU µs per request, by role then category (roles without samples left out). */
  readonly usPerRequest: Partial<Record<Role, Partial<Record<Category, number>>>>;
  /** CPU µs per request by role, all categories. */
  readonly roleTotals: Partial<Record<Role, number>>;
  /** The server's processes (primary, workers, their threads): µs per request. */
  readonly serverTotal: number;
  readonly samples: number;
}

/**
 * Turn the samples of one phase into µs per request. `cpus` is how many CPUs perf recorded (its samples
 * cover each of them for the whole phase, idle included).
 */
export function summarize(
  samples: readonly Sample[],
  procs: Processes,
  o: { requests: number; seconds: number; cpus: number },
): PhaseProfile {
  const roles = threadRoles(samples, procs);
  const counts = new Map<Role, Map<Category, number>>();
  let idle = 0;
  for (const s of samples) {
    const role = roles.get(s.tid) ?? 'other';
    if (role === 'idle') {
      idle++;
      continue;
    }
    const byCat = counts.get(role) ?? new Map<Category, number>();
    counts.set(role, byCat);
    const cat = categorize(s.frames);
    byCat.set(cat, (byCat.get(cat) ?? 0) + 1);
  }
  const total = samples.length;
  // A sample stands for (cpus × seconds / samples) of CPU time.
  const usPerSample = total === 0 ? 0 : (o.cpus * o.seconds * 1e6) / total;
  const perRequest = (n: number) => (o.requests > 0 ? round((n * usPerSample) / o.requests) : 0);
  const usPerRequest: Partial<Record<Role, Partial<Record<Category, number>>>> = {};
  const roleTotals: Partial<Record<Role, number>> = {};
  let server = 0;
  for (const role of ROLES) {
    const byCat = counts.get(role);
    if (byCat === undefined) continue;
    const cats: Partial<Record<Category, number>> = {};
    let sum = 0;
    for (const c of CATEGORIES) {
      const n = byCat.get(c);
      if (n === undefined) continue;
      cats[c] = perRequest(n);
      sum += n;
    }
    usPerRequest[role] = cats;
    roleTotals[role] = perRequest(sum);
    if (role !== 'other') server += sum;
  }
  return {
    requests: o.requests,
    seconds: o.seconds,
    idleShare: total === 0 ? 0 : round(idle / total, 3),
    usPerRequest,
    roleTotals,
    serverTotal: perRequest(server),
    samples: total,
  };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface ProfileResults {
  readonly date: string;
  readonly commit: string;
  readonly machine: string;
  readonly policy: string;
  readonly serverCpus: string;
  readonly loadCpus: string;
  readonly saturation: PhaseProfile & { readonly rps: number };
  readonly partial: PhaseProfile & {
    readonly rate: number;
    readonly fraction: number;
    readonly p99Ms: number;
  };
  readonly notes: readonly string[];
}

/** Markdown: a table of µs per request per category, event loop and pool thread at both load points. */
export function renderProfileMarkdown(r: ProfileResults): string {
  const sat = r.saturation;
  const part = r.partial;
  const pct = Math.round(part.fraction * 100);
  const cell = (p: PhaseProfile, role: Role, c: Category) => fmt(p.usPerRequest[role]?.[c]);
  const lines = [
    `# Where a request's CPU goes (\`npm run bench:profile\`)`,
    '',
    `Commit \`${r.commit}\`, ${r.date}. Machine: ${r.machine}. Policy set: ${r.policy}. \`tollgate serve\` (1 worker, shipped defaults) pinned to cpu ${r.serverCpus}, load to cpu ${r.loadCpus}; \`perf record -g\` of cpu ${r.serverCpus} with V8's perf map.`,
    '',
    `- Saturation (wrk, 32 connections): ${Math.round(sat.rps).toLocaleString('en-US')} req/s, the CPU ${pctOf(1 - sat.idleShare)} busy, ${fmt(sat.serverTotal)} µs of server CPU per request.`,
    `- ${pct} % of that (open loop, 25 connections, ${Math.round(part.rate).toLocaleString('en-US')} req/s): the CPU ${pctOf(1 - part.idleShare)} busy, ${fmt(part.serverTotal)} µs per request (p99 ${part.p99Ms} ms while perf recorded: latency figures come from \`npm run bench\`).`,
    '',
    `CPU µs per request (samples × period ÷ requests answered while perf recorded):`,
    '',
    `| category | event loop, saturation | pool thread, saturation | event loop, ${pct} % | pool thread, ${pct} % | both, ${pct} % − saturation |`,
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const c of CATEGORIES) {
    const s = (sat.usPerRequest['event loop']?.[c] ?? 0) + (sat.usPerRequest['pool thread']?.[c] ?? 0);
    const p = (part.usPerRequest['event loop']?.[c] ?? 0) + (part.usPerRequest['pool thread']?.[c] ?? 0);
    if (s === 0 && p === 0) continue;
    lines.push(
      `| ${c} | ${cell(sat, 'event loop', c)} | ${cell(sat, 'pool thread', c)} | ${cell(part, 'event loop', c)} | ${cell(part, 'pool thread', c)} | ${signed(p - s)} |`,
    );
  }
  const el = (p: PhaseProfile) => p.roleTotals['event loop'] ?? 0;
  const pool = (p: PhaseProfile) => p.roleTotals['pool thread'] ?? 0;
  lines.push(
    `| **all** | **${fmt(el(sat))}** | **${fmt(pool(sat))}** | **${fmt(el(part))}** | **${fmt(pool(part))}** | **${signed(el(part) + pool(part) - el(sat) - pool(sat))}** |`,
  );
  const rest = (p: PhaseProfile) => (p.roleTotals['helper threads'] ?? 0) + (p.roleTotals.primary ?? 0);
  lines.push(
    '',
    `Besides: V8/libuv helper threads and the primary ${fmt(rest(sat))} µs per request at saturation, ${fmt(rest(part))} at ${pct} %.`,
  );
  lines.push('', ...r.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

function fmt(x: number | undefined): string {
  return x === undefined ? '–' : x.toFixed(1);
}

function signed(x: number): string {
  const v = Math.round(x * 10) / 10;
  return v > 0 ? `+${v.toFixed(1)}` : v.toFixed(1);
}

function pctOf(x: number): string {
  return `${Math.round(x * 100)} %`;
}
