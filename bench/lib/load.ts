// Load generators, each run as its own process pinned to the load cores:
//  - wrk (closed loop, as fast as the server answers) for saturation throughput and new connections/s;
//  - for latency, a constant-rate generator measuring from the scheduled send time: bench/loadgen (Go,
//    built into .bin/tollgate-loadgen), or lib/open-loop.ts (Node) when Go is not installed. Both take the
//    same options and print the same JSON line; the Node one's own timer lag is in the milliseconds.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { compiledScript } from './build.js';
import type { OpenLoopResult } from './open-loop.js';
import { startProcess } from './proc.js';

export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  readonly durationS: number;
  /** Connect/write/timeout errors and non-2xx answers. */
  readonly errors: number;
  /** Read errors: in "close" mode every server-closed connection counts here, so they are not errors. */
  readonly readErrors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // wrk --version exits 1 after printing its version.
    return (e as { status?: number }).status === 1;
  }
}

async function collect(
  cmd: string,
  args: string[],
  cpus: string | undefined,
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  const p = startProcess(cmd, args, { ...(cpus ? { cpus } : {}), ...(env ? { env } : {}) });
  const { code, signal } = await p.exited;
  if (code !== 0) throw new Error(`${cmd} exited ${code ?? signal}: ${p.output().slice(-1500)}`);
  return p.output();
}

export async function runWrk(o: {
  port: number;
  path: string;
  body: string;
  connections: number;
  durationS: number;
  threads: number;
  cpus: string | undefined;
  close?: boolean;
  luaDir: string;
}): Promise<WrkResult> {
  const out = await collect(
    'wrk',
    [
      `-t${o.threads}`,
      `-c${o.connections}`,
      `-d${Math.max(1, Math.round(o.durationS))}s`,
      '--timeout',
      '10s',
      '-s',
      join(o.luaDir, 'wrk-post.lua'),
      `https://127.0.0.1:${o.port}${o.path}`,
    ],
    o.cpus,
    { ...process.env, WRK_BODY: o.body, WRK_CLOSE: o.close ? '1' : '0' },
  );
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (line === undefined) throw new Error(`wrk printed no summary: ${out.slice(-1500)}`);
  const j = JSON.parse(line.slice(9)) as Record<string, number>;
  const durationS = j.duration_us! / 1e6;
  return {
    rps: Math.round(j.requests! / durationS),
    requests: j.requests!,
    durationS,
    errors: j.connect_errors! + j.write_errors! + j.timeouts! + j.status_errors!,
    readErrors: j.read_errors!,
    p50Ms: j.p50_us! / 1000,
    p99Ms: j.p99_us! / 1000,
  };
}

/** Which latency generator runs, and why the Node one when it does. */
export type LatencyGenerator =
  | { readonly kind: 'go'; readonly binary: string }
  | { readonly kind: 'node'; readonly reason: string };

export function loadgenBinary(benchDir: string): string {
  return join(benchDir, '.bin', 'tollgate-loadgen');
}

function hasGo(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let chosen: LatencyGenerator | undefined;

/**
 * The Go generator, built (`go build`, a no-op when up to date: Go tracks its own staleness) into
 * bench/.bin; without Go, a binary that is newer than its sources still serves, else the Node generator,
 * with the reason. A failing build is an error, not a fallback.
 */
export function latencyGenerator(benchDir: string): LatencyGenerator {
  if (chosen !== undefined) return chosen;
  const src = join(benchDir, 'loadgen');
  const binary = loadgenBinary(benchDir);
  if (hasGo()) {
    try {
      execFileSync('go', ['build', '-trimpath', '-o', binary, '.'], {
        cwd: src,
        env: { ...process.env, CGO_ENABLED: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      throw new Error(`go build in bench/loadgen failed: ${(e as { stderr?: Buffer }).stderr ?? e}`);
    }
    // go build leaves an up-to-date binary untouched: date it now, so that the check below (without Go)
    // sees it as newer than sources that were touched but not changed.
    const now = new Date();
    utimesSync(binary, now, now);
    chosen = { kind: 'go', binary };
  } else {
    const newestSource = Math.max(
      ...readdirSync(src)
        .filter((f) => f === 'go.mod' || (f.endsWith('.go') && !f.endsWith('_test.go')))
        .map((f) => statSync(join(src, f)).mtimeMs),
    );
    chosen =
      existsSync(binary) && statSync(binary).mtimeMs >= newestSource
        ? { kind: 'go', binary }
        : {
            kind: 'node',
            reason: `go is not installed and ${existsSync(binary) ? 'bench/.bin/tollgate-loadgen is older than bench/loadgen' : 'bench/.bin/tollgate-loadgen is missing'}: latency measured with the Node generator (lib/open-loop.ts), whose own timer lag is about 1–3 ms`,
          };
  }
  return chosen;
}

export async function runOpenLoopProcess(o: {
  port: number;
  path: string;
  body: string;
  rate: number;
  connections: number;
  durationS: number;
  warmupS: number;
  ca: string;
  cpus: string | undefined;
  benchDir: string;
}): Promise<OpenLoopResult> {
  const gen = latencyGenerator(o.benchDir);
  const [cmd, script] =
    gen.kind === 'go'
      ? [gen.binary, []]
      : [process.execPath, [compiledScript(o.benchDir, 'lib/open-loop.ts')]];
  const out = await collect(
    cmd,
    [
      ...script,
      '--port',
      String(o.port),
      '--path',
      o.path,
      '--body',
      o.body,
      '--rate',
      String(Math.max(1, Math.round(o.rate))),
      '--connections',
      String(o.connections),
      '--duration',
      String(o.durationS),
      '--warmup',
      String(o.warmupS),
      '--ca',
      o.ca,
    ],
    o.cpus,
  );
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`open-loop printed no result: ${out.slice(-1500)}`);
  return JSON.parse(line) as OpenLoopResult;
}
