/**
 * Spawning the real `tollgate` CLI (bin/tollgate.js, which runs dist/) for end-to-end tests: build once,
 * make dev certificates with `tollgate certs`, start `tollgate serve` on a free port and wait until every
 * worker is serving, stop it with SIGTERM (SIGKILL if it hangs). Every process started here is killed
 * when the test process exits, even on failure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(REPO, 'bin', 'tollgate.js');

let built = false;

/** Whether every non-test .ts file under src/ has a dist/ counterpart at least as new (`npm test` builds first). */
export function distIsCurrent(): boolean {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? walk(join(dir, e.name))
        : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')
          ? [join(dir, e.name)]
          : [],
    );
  const src = join(REPO, 'src');
  for (const file of walk(src)) {
    const out = join(REPO, 'dist', `${relative(src, file).slice(0, -3)}.js`);
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs) return false;
  }
  return true;
}
/**
 * Compile src/ to dist/ (bin/tollgate.js runs dist/). Once per test process. Type errors do not stop
 * the emit (the test command type-checks separately), so they are reported but only fail the build
 * when nothing was emitted.
 */
export function buildDist(): void {
  if (built || distIsCurrent()) {
    built = true;
    return;
  }
  try {
    execFileSync(
      process.execPath,
      [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      },
    );
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? '');
    if (!out.includes('error TS') || !existsSync(join(REPO, 'dist', 'main.js'))) throw e;
    process.stderr.write(
      `buildDist: tsc reported type errors (dist/ was still emitted):\n${out.slice(0, 2000)}\n`,
    );
  }
  built = true;
}

/** Run a CLI command to completion. */
export function runCli(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv } = {},
): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [CLI, ...args], {
      cwd: REPO,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export interface Certs {
  readonly dir: string;
  readonly ca: Buffer;
  readonly cert: string;
  readonly key: string;
  readonly caBundle: string;
}

export function makeCerts(dir: string, service = 'webhook', namespace = 'ns'): Certs {
  const r = runCli(['certs', '--out', dir, '--service', service, '--namespace', namespace]);
  if (r.status !== 0) throw new Error(`tollgate certs failed (${r.status}): ${r.stderr}`);
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt')),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
    caBundle: r.stdout.trim(),
  };
}

/** A port that was free a moment ago (uWS binds it itself, so we cannot hand it a socket). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the server wrote to stdout (JSON log lines) and stderr so far. */
  output(): string;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code after SIGTERM (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export interface StartOptions {
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Flags for node itself (before the script). */
  readonly node?: readonly string[];
  /** Log line message that means "ready" (default: the primary's "tollgate serving"). */
  readonly readyMessage?: string;
  readonly timeoutMs?: number;
}

/** Start `tollgate serve` with the given flags (plus --port) and wait for its readiness log line. */
export async function startServer(opts: StartOptions & { port?: number }): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [...(opts.node ?? []), CLI, 'serve', '--port', String(port), ...opts.args],
    {
      cwd: REPO,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  live.add(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((res) => {
    child.once('exit', (code) => {
      live.delete(child);
      res(code);
    });
  });
  const logs = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  const readyMessage = opts.readyMessage ?? 'tollgate serving';
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let exitCode: number | null | undefined;
  void exited.then((c) => {
    exitCode = c;
  });
  while (!logs().some((l) => l.msg === readyMessage)) {
    if (exitCode !== undefined)
      throw new Error(`tollgate serve exited with ${exitCode} before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tollgate serve was not ready within the deadline:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    child,
    output: () => out,
    logs,
    exited,
    async stop(graceMs = 15_000) {
      if (exitCode === undefined) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
