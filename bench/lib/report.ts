// The results file's shape, the goals, and the two renderings the README can show: a markdown table
// and an SVG chart of p99 latency against throughput per contestant.
import type { OpenLoopResult } from './open-loop.js';
import type { MemoryPeak } from './proc.js';

export interface ContestantResult {
  name: string;
  /** Why it did not run (not installed, command not implemented yet ...). */
  unavailable?: string;
  /** Policy sets it could not run, with the reason (it ran the main one). */
  skipped?: Record<string, string>;
  command?: string;
  errors?: number;
  /** Saturation throughput, 2 KB bodies, 32 connections: median and each repetition. */
  saturation?: { rps: number; reps: number[]; cpuUsPerRequest: number };
  /** Latency at fractions of its own maximum (open loop, 25 connections). */
  latency?: (LatencyPoint & { fraction: number })[];
  commonRate?: LatencyPoint;
  bodies?: Partial<Record<'20k' | '1m', { rps: number; p99Ms: number; errors: number }>>;
  connectionsPerS?: number;
  /** Peak RSS of the whole process tree during the 2 KB runs. */
  rssMb?: MemoryPeak;
  /** Peak RSS including the 20 KB / 1 MB bodies and the connection storm. */
  rssPeakAllMb?: MemoryPeak;
  /** The seed rule bound 50 times (OPA runs its Rego twin). */
  fifty?: { rps: number; p99Ms?: number };
  /** 50 bindings of the Pod-security policies in rules/ (Tollgate only). */
  podsecurity?: { rps: number; p99Ms?: number };
}

/**
 * One latency run, with the CPU time the hypervisor stole from the server's and the load's CPUs meanwhile,
 * and what the server's process tree spent (read before and after the run, warm-up included).
 */
export type LatencyRun = OpenLoopResult & {
  stealMs?: { server: number; load: number };
  server?: ServerLoad;
};

/** The server tree during a latency run: share of its CPUs it kept busy, CPU time and context switches per request. */
export interface ServerLoad {
  cpuShare: number;
  cpuUsPerRequest: number;
  switchesPerRequest: number;
}

/** One repetition of a latency point, in short. */
export interface LatencyRep {
  achievedRps: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  stealMs?: { server: number; load: number };
}

/**
 * A latency point: the repetition with the median p99 (the higher middle one of an even count) stands for
 * it, so one stall of the machine (they reach 100 ms here, see bench/README.md) moves no figure; `reps`
 * holds every repetition, in the order run.
 */
export type LatencyPoint = LatencyRun & { reps?: LatencyRep[] };

export function medianRun(runs: readonly LatencyRun[]): LatencyPoint {
  if (runs.length === 0) throw new Error('medianRun: no runs');
  const chosen = [...runs].sort((a, b) => a.latencyMs.p99 - b.latencyMs.p99)[Math.floor(runs.length / 2)]!;
  if (runs.length === 1) return chosen;
  return {
    ...chosen,
    reps: runs.map((o) => ({
      achievedRps: o.achievedRps,
      p50: o.latencyMs.p50,
      p99: o.latencyMs.p99,
      p999: o.latencyMs.p999,
      max: o.latencyMs.max,
      ...(o.stealMs ? { stealMs: o.stealMs } : {}),
    })),
  };
}

/** The load, as a fraction of each contestant's own maximum, at which the latency goal is judged. */
export const GOAL_FRACTION = 0.7;

/** A contestant's latency point at GOAL_FRACTION, if measured. */
export function goalPoint(
  c: ContestantResult | undefined,
): (LatencyPoint & { fraction: number }) | undefined {
  return c?.latency?.find((x) => x.fraction === GOAL_FRACTION);
}

/** The p99 bound of the latency goal, ms. */
export const P99_BOUND_MS = 2;

/**
 * How much load a contestant holds within the p99 bound: the highest point of its latency curve such that
 * it and every lower point had a p99 ≤ `boundMs` (so one lucky run high on the curve does not count).
 * Undefined when even its lowest point is over, or it has no curve.
 */
export function loadWithinP99(
  c: ContestantResult | undefined,
  boundMs = P99_BOUND_MS,
): { fraction: number; rps: number } | undefined {
  const curve = [...(c?.latency ?? [])].sort((a, b) => a.fraction - b.fraction);
  let held: { fraction: number; rps: number } | undefined;
  for (const p of curve) {
    if (!(p.latencyMs.p99 <= boundMs)) break;
    held = { fraction: p.fraction, rps: p.achievedRps };
  }
  return held;
}

export interface Goal {
  goal: string;
  status: 'pass' | 'miss' | 'n/a';
  detail: string;
}

export interface BenchResults {
  schema: 1;
  date: string;
  mode: 'full' | 'quick' | 'smoke';
  commit: string;
  machine: string;
  setup: Record<string, unknown>;
  /** Anything that qualifies the figures (type errors at build time ...). */
  notes: string[];
  commonRate: number;
  contestants: Record<string, ContestantResult>;
  ratios: {
    tollgate_vs_opa: number | null;
    tollgate_vs_bare: number | null;
    tollgate_vs_inline: number | null;
    inline_vs_opa: number | null;
    inline_vs_bare: number | null;
    /** bare + JSON.parse over bare: the ceiling for any engine that reads the object. */
    parse_vs_bare: number | null;
    tollgate_vs_parse: number | null;
  };
  /** The same pairs in requests per server CPU second (steadier than throughput on a shared machine). */
  cpu_efficiency_ratios: BenchResults['ratios'];
  p99_ms: Record<string, number | null>;
  rss_mb: Record<string, number | null>;
  /** Server CPU time per request at saturation (2 KB), whole process tree, µs (median of the reps). */
  cpu_us_per_request: Record<string, number | null>;
  goals: Goal[];
}

export function evaluateGoals(r: BenchResults): Goal[] {
  const t = r.contestants.tollgate;
  const opa = r.contestants.opa;
  const why = (c: ContestantResult | undefined, name: string) =>
    c === undefined ? `${name} not in this run` : (c.unavailable ?? `${name} has no result`);
  const ratioGoal = (goal: string, ratio: number | null, min: number, other: string): Goal =>
    ratio === null
      ? { goal, status: 'n/a', detail: t?.saturation ? why(r.contestants[other], other) : why(t, 'tollgate') }
      : { goal, status: ratio >= min ? 'pass' : 'miss', detail: `ratio ${ratio} (goal ≥ ${min})` };

  const goals: Goal[] = [];
  const opaGoal = ratioGoal(
    'tollgate/opa throughput ≥ 3.0 with lower p99',
    r.ratios.tollgate_vs_opa,
    3.0,
    'opa',
  );
  if (opaGoal.status !== 'n/a') {
    const tp = t?.commonRate?.latencyMs.p99;
    const op = opa?.commonRate?.latencyMs.p99;
    if (tp !== undefined && op !== undefined) {
      const lower = tp < op;
      opaGoal.detail += `; p99 at the common rate ${r.commonRate} req/s: tollgate ${tp} ms vs opa ${op} ms`;
      if (!lower) opaGoal.status = 'miss';
    }
  }
  goals.push(opaGoal);
  const bareGoal = ratioGoal('tollgate/bare throughput ≥ 0.65', r.ratios.tollgate_vs_bare, 0.65, 'bare');
  if (bareGoal.status !== 'n/a' && r.ratios.parse_vs_bare !== null) {
    bareGoal.detail +=
      `; parsing alone (bare + JSON.parse) reaches ${r.ratios.parse_vs_bare} of bare, ` +
      `tollgate ${r.ratios.tollgate_vs_parse ?? '?'} of that`;
  }
  goals.push(bareGoal);
  goals.push(ratioGoal('tollgate/inline throughput ≥ 0.85', r.ratios.tollgate_vs_inline, 0.85, 'inline'));
  const p99 = r.p99_ms.tollgate ?? null;
  const bareP99 = r.p99_ms.bare ?? null;
  const p99Goal = 'tollgate p99 ≤ 2 ms at 25 conns, 70 % load, and within 1 ms of bare';
  if (p99 === null) goals.push({ goal: p99Goal, status: 'n/a', detail: why(t, 'tollgate') });
  else {
    const reps = goalPoint(t)?.reps;
    const over = bareP99 === null ? null : Math.round((p99 - bareP99) * 1000) / 1000;
    goals.push({
      goal: p99Goal,
      status: p99 <= 2 && (over === null || over <= 1) ? 'pass' : 'miss',
      detail:
        `p99 ${p99} ms` +
        (reps ? ` (the median of ${reps.length} runs: ${reps.map((x) => x.p99).join(', ')})` : '') +
        (over === null
          ? `; bare not measured, so only the 2 ms bound is judged`
          : `; bare ${bareP99} ms at its own 70 %, tollgate ${over >= 0 ? '+' : ''}${over} ms`) +
        heldDetail(t),
    });
  }
  // Judged on the tree's resident pages counted once (pagemap) when the harness can see them: summed RSS
  // counts node's own ~40 MB of code once per process. Both are shown.
  const rss = r.rss_mb.tollgate ?? null;
  const unique = t?.rssMb?.peakUniqueMb;
  const judged = unique ?? rss;
  goals.push(
    rss === null || judged === null
      ? { goal: 'tollgate RSS ≤ 150 MB', status: 'n/a', detail: why(t, 'tollgate') }
      : {
          goal: 'tollgate RSS ≤ 150 MB',
          status: judged <= 150 ? 'pass' : 'miss',
          detail:
            (unique !== undefined ? `${unique} MB resident, shared pages counted once; ` : '') +
            `${rss} MB RSS summed over ${t?.rssMb?.processes ?? '?'} processes (PSS ${t?.rssMb?.peakPssMb ?? '?'} MB)`,
        },
  );
  return goals;
}

/** "; p99 ≤ 2 ms held up to 60 % of its maximum (8,640 req/s)", when the curve has more than the goal's point. */
function heldDetail(c: ContestantResult | undefined): string {
  if ((c?.latency?.length ?? 0) < 2) return '';
  const held = loadWithinP99(c);
  return held === undefined
    ? `; p99 over ${P99_BOUND_MS} ms at every measured load`
    : `; p99 ≤ ${P99_BOUND_MS} ms held up to ${Math.round(held.fraction * 100)} % of its maximum (${fmt(held.rps)} req/s)`;
}

/** The p99 of each repetition, when there were several: " (1.9, 2.3, 1.7)". */
const repsOf = (p: LatencyPoint) => (p.reps ? ` (${p.reps.map((x) => x.p99).join(', ')})` : '');

const fmt = (x: number | undefined | null, digits = 0) =>
  x === undefined || x === null ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits });

export function renderMarkdown(r: BenchResults): string {
  const rows = Object.values(r.contestants);
  const lines: string[] = [];
  lines.push(`# Tollgate benchmark (${r.mode} run)`, '');
  lines.push(`Commit \`${r.commit}\`, ${r.date}. Machine: ${r.machine}.`, '');
  lines.push(
    `Server pinned to cpu ${r.setup.serverCpus}, load generators to cpu ${r.setup.loadCpus}. TLS: ${r.setup.tls}. ` +
      `Saturation: ${r.setup.saturation}. Latency: ${r.setup.latency}. ` +
      (typeof r.setup.cpuBusyAtStart === 'number'
        ? `CPUs busy with other work in the 3 s before the start: ${Math.round(r.setup.cpuBusyAtStart * 100)} %. `
        : '') +
      `Load average at the end: ${(r.setup.loadAverageAtEnd as number[]).join(' ')}.`,
    '',
  );
  lines.push(
    '| contestant | req/s 2 KB (median) | reps | CPU µs/req | p50 / p99 / p99.9 ms at 70 % | p99 ms at common rate | req/s 20 KB | req/s 1 MB | new TLS conns/s | RSS MB (2 KB / peak; PSS; once) | 50 bindings req/s, p99 ms | 50 pod-security bindings req/s, p99 ms |',
    '|---|---:|---|---:|---|---:|---:|---:|---:|---|---|---|',
  );
  for (const c of rows) {
    if (c.unavailable !== undefined) {
      lines.push(
        `| ${c.name} | unavailable: ${c.unavailable.split('\n')[0]!.replace(/\|/g, '\\|').slice(0, 200)} |||||||||||`,
      );
      continue;
    }
    const l70 = goalPoint(c);
    lines.push(
      `| ${c.name} | ${fmt(c.saturation?.rps)} | ${c.saturation?.reps.map((x) => fmt(x)).join(', ') ?? '–'} | ` +
        `${fmt(c.saturation?.cpuUsPerRequest)} | ` +
        `${l70 ? `${l70.latencyMs.p50} / ${l70.latencyMs.p99} / ${l70.latencyMs.p999}${repsOf(l70)}` : '–'} | ` +
        `${fmt(c.commonRate?.latencyMs.p99, 3)}${c.commonRate ? repsOf(c.commonRate) : ''} | ${fmt(c.bodies?.['20k']?.rps)} | ${fmt(c.bodies?.['1m']?.rps)} | ` +
        `${fmt(c.connectionsPerS)} | ${fmt(c.rssMb?.peakMb, 1)} / ${fmt(c.rssPeakAllMb?.peakMb, 1)}; ${fmt(c.rssMb?.peakPssMb, 1)}; ${fmt(c.rssMb?.peakUniqueMb, 1)} | ` +
        `${c.fifty ? `${fmt(c.fifty.rps)}, ${fmt(c.fifty.p99Ms, 3)}` : '–'} | ` +
        `${c.podsecurity ? `${fmt(c.podsecurity.rps)}, ${fmt(c.podsecurity.p99Ms, 3)}` : '–'} |`,
    );
  }
  const lags = rows
    .map((c) => {
      const runs = [...(c.latency ?? []), ...(c.commonRate ? [c.commonRate] : [])];
      return runs.length ? `${c.name} ${Math.max(...runs.map((o) => o.generatorLagP99Ms))} ms` : '';
    })
    .filter((x) => x);
  if (lags.length > 0) {
    const go = r.setup.generator === 'go';
    lines.push(
      '',
      `Latency generator: ${go ? 'go (bench/loadgen)' : 'node (lib/open-loop.ts)'}. Its own lag ` +
        `(${go ? 'how late it handed a due request to a free connection' : 'how late it noticed a request was due'}), ` +
        `worst p99 over each contestant's latency runs: ${lags.join(', ')}.`,
    );
  }
  const stolen = rows
    .map((c) => {
      const runs = [...(c.latency ?? []), ...(c.commonRate ? [c.commonRate] : [])].flatMap((o) =>
        o.reps ? o.reps.map((x) => x.stealMs) : [o.stealMs],
      );
      const known = runs.filter((x) => x !== undefined);
      if (known.length === 0) return '';
      const server = known.reduce((a, x) => a + x.server, 0);
      const load = known.reduce((a, x) => a + x.load, 0);
      return `${c.name} ${server} / ${load} ms`;
    })
    .filter((x) => x);
  if (stolen.length > 0) {
    lines.push(
      '',
      'CPU time the hypervisor stole during the latency runs (server cpu / load cpu, summed over the runs): ' +
        `${stolen.join(', ')}. Figures at 70 % and at the common rate are the run with the median p99; ` +
        "every run's p99 is in brackets.",
    );
  }
  const loads = rows
    .map((c) => ({ c, l: goalPoint(c)?.server }))
    .filter((x): x is { c: ContestantResult; l: ServerLoad } => x.l !== undefined);
  if (loads.length > 0) {
    lines.push(
      '',
      'The server during its median run at 70 % of its own maximum (warm-up included): how busy it kept its ' +
        'CPUs, and what a request cost it there, against the saturation runs.',
      '',
      '| contestant | CPU busy | CPU µs/req at 70 % | at saturation | context switches/req |',
      '|---|---:|---:|---:|---:|',
      ...loads.map(
        ({ c, l }) =>
          `| ${c.name} | ${Math.round(l.cpuShare * 100)} % | ${fmt(l.cpuUsPerRequest)} | ${fmt(c.saturation?.cpuUsPerRequest)} | ${fmt(l.switchesPerRequest, 1)} |`,
      ),
    );
  }
  const curves = rows.filter((c) => (c.latency?.length ?? 0) >= 2);
  if (curves.length > 0) {
    const fractions = [...new Set(curves.flatMap((c) => c.latency!.map((p) => p.fraction)))].sort(
      (a, b) => a - b,
    );
    lines.push(
      '',
      `The latency curve (the chart): p99 ms at fractions of each contestant's own maximum, the median of ` +
        `${curves[0]!.latency![0]!.reps?.length ?? 1} interleaved runs each, and the highest load held with every ` +
        `point up to it at p99 ≤ ${P99_BOUND_MS} ms.`,
      '',
      `| contestant | ${fractions.map((f) => `${Math.round(f * 100)} %`).join(' | ')} | held at p99 ≤ ${P99_BOUND_MS} ms |`,
      `|---|${fractions.map(() => '---:').join('|')}|---|`,
      ...curves.map((c) => {
        const held = loadWithinP99(c);
        const cells = fractions.map((f) => fmt(c.latency!.find((p) => p.fraction === f)?.latencyMs.p99, 3));
        return `| ${c.name} | ${cells.join(' | ')} | ${held ? `${Math.round(held.fraction * 100)} % (${fmt(held.rps)} req/s)` : 'none'} |`;
      }),
    );
  }
  for (const n of r.notes) lines.push('', `Note: ${n}`);
  for (const c of rows) {
    for (const [set, why] of Object.entries(c.skipped ?? {})) {
      lines.push('', `Note: ${c.name} did not run the ${set} set: ${why.split('\n')[0]}`);
    }
  }
  lines.push('', `Common rate: ${fmt(r.commonRate)} req/s (70 % of the slowest contestant's maximum).`, '');
  lines.push('| ratio | saturation throughput | requests per CPU second |', '|---|---:|---:|');
  for (const [k, v] of Object.entries(r.ratios)) {
    const cpu = r.cpu_efficiency_ratios[k as keyof BenchResults['ratios']];
    lines.push(`| ${k.replace(/_/g, ' ')} | ${v ?? '–'} | ${cpu ?? '–'} |`);
  }
  lines.push('', '| goal | result | detail |', '|---|---|---|');
  for (const g of r.goals)
    lines.push(`| ${g.goal} | ${g.status} | ${g.detail.replace(/\|/g, '\\|').split('\n')[0]} |`);
  lines.push('');
  return `${lines.join('\n')}\n`;
}

const COLORS: Record<string, string> = {
  bare: '#888888',
  parse: '#bbbbbb',
  inline: '#2b8cbe',
  tollgate: '#e6550d',
  opa: '#31a354',
};

/** p99 latency (log scale) against achieved throughput, one line per contestant. */
export function renderSvg(r: BenchResults): string {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 130, t: 36, b: 48 };
  const series = Object.values(r.contestants)
    .filter((c) => c.latency && c.latency.length > 0)
    .map((c) => {
      const pts = [...(c.latency ?? []), ...(c.commonRate ? [c.commonRate] : [])]
        .filter((p) => p.completed > 0)
        .map((p) => ({ x: p.achievedRps, y: Math.max(p.latencyMs.p99, 0.05) }))
        .sort((a, b) => a.x - b.x);
      return { name: c.name, pts };
    })
    .filter((s) => s.pts.length > 0);
  const xs = series.flatMap((s) => s.pts.map((p) => p.x));
  const ys = series.flatMap((s) => s.pts.map((p) => p.y));
  const xMax = niceCeil(Math.max(1, ...xs) * 1.05);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(1, ...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(2, ...ys) * 1.1));
  const px = (x: number) => m.l + (x / xMax) * (W - m.l - m.r);
  const py = (y: number) =>
    H - m.b - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">p99 latency vs throughput (2 KB AdmissionReviews, 25 keep-alive TLS conns, open loop)</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const x = (xMax / 5) * i;
    out.push(
      `<line x1="${px(x)}" y1="${m.t}" x2="${px(x)}" y2="${H - m.b}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(x)}</text>`,
    );
  }
  for (let d = yMin; d <= yMax * 1.001; d *= 10) {
    for (const k of [1, 2, 5]) {
      const y = d * k;
      if (y > yMax * 1.001) break;
      out.push(
        `<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="${k === 1 ? '#ddd' : '#f3f3f3'}"/>`,
        `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${y >= 1 ? y : y.toPrecision(1)}</text>`,
      );
    }
  }
  out.push(
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">requests per second (achieved)</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">p99 latency, ms (log)</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[s.name] ?? '#000';
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of s.pts)
      out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${color}"/>`);
    const ly = m.t + 10 + i * 20;
    out.push(
      `<rect x="${W - m.r + 14}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`,
      `<text x="${W - m.r + 32}" y="${ly + 1}">${s.name}</text>`,
    );
  });
  out.push(
    `<text x="${W - 8}" y="${H - 4}" text-anchor="end" font-size="10" fill="#666">${r.mode} run, ${r.commit}, ${r.date.slice(0, 10)}</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceCeil(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= x) return k * p;
  return 10 * p;
}
