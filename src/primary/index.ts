/**
 * The primary process of `tollgate serve`: validates the policy set, forks the workers and keeps them
 * serving, merges their metrics on `/metrics`, and reloads policies and certificates when files change.
 * It never serves webhook traffic and never runs policy code on its own event loop.
 *
 * Signals:
 *   SIGTERM, SIGINT  drain every worker (grace period), then exit 0
 *   SIGHUP           re-read policies, bindings, data and certificates now
 *   SIGUSR2          rolling restart: replace the workers one at a time, with no failed request
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createSecureContext } from 'node:tls';
import type { ServeConfig } from '../config/index.js';
import type { LoadOptions } from '../engine/engine.js';
import { describeError, ERRORS, type ErrorCode, TollgateError } from '../errors.js';
import type { ErrorValue } from '../ipc/cluster-messages.js';
import { createLogger, flushLogs, type Logger } from '../log/index.js';
import { buildInfo, collectProcessMetrics, registry, reloads, workerRestarts } from '../metrics/index.js';
import { MetricsAggregator, startMetricsServer } from './metrics-server.js';
import { FileWatcher } from './reload.js';
import { type ActivePolicySet, Supervisor } from './supervisor.js';
import { validatePolicySet } from './validate.js';

export { MetricsAggregator } from './metrics-server.js';
export { FileWatcher, fingerprint } from './reload.js';
export { Supervisor } from './supervisor.js';
export { validatePolicySet } from './validate.js';

/** The settings the primary reads (a subset of ServeConfig). */
export type PrimaryConfig = Pick<
  ServeConfig,
  | 'port'
  | 'workers'
  | 'metricsHost'
  | 'metricsPort'
  | 'rules'
  | 'configs'
  | 'data'
  | 'cacheDir'
  | 'tlsCert'
  | 'tlsKey'
  | 'insecureHttp'
  | 'gracePeriodMs'
  | 'logLevel'
  | 'watch'
  | 'semiSpaceMb'
>;

export interface PrimaryOptions {
  readonly log?: Logger;
  /** Worker entry and its arguments; default: this process's own script and arguments (cluster's default). */
  readonly exec?: string;
  readonly args?: readonly string[];
  readonly execArgv?: readonly string[];
  /** Install SIGTERM/SIGINT/SIGHUP/SIGUSR2 handlers (default true). */
  readonly signals?: boolean;
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly debounceMs?: number;
  readonly pollMs?: number;
}

export interface PrimaryHandle {
  /** The port `/metrics` listens on (undefined when disabled). */
  readonly metricsPort: number | undefined;
  /** Resolves with the exit code once the primary has stopped (after SIGTERM or shutdown()). */
  readonly closed: Promise<number>;
  shutdown(): Promise<number>;
  rollingRestart(): Promise<void>;
  /** Re-read and, if valid and different, distribute the policy set; resolves with what happened. */
  reloadPolicies(): Promise<'ok' | 'unchanged' | 'failed'>;
  reloadCertificates(): Promise<'ok' | 'failed'>;
  workerPids(): (number | undefined)[];
  generation(): number;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function errorCode(code: string): ErrorCode {
  return Object.hasOwn(ERRORS, code) ? (code as ErrorCode) : 'TOLLGATE_ERR_INTERNAL';
}

/** The serving certificate and key must parse and belong together before a worker is told to use them. */
function checkCertificates(config: PrimaryConfig): ErrorValue | undefined {
  if (config.insecureHttp || config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  try {
    createSecureContext({ cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) });
    return undefined;
  } catch (e) {
    return {
      code: 'TOLLGATE_ERR_LISTEN',
      message: `TLS files ${config.tlsCert} / ${config.tlsKey} are unusable: ${describeError(e)}`,
    };
  }
}

export async function startPrimary(
  config: PrimaryConfig,
  options: PrimaryOptions = {},
): Promise<PrimaryHandle> {
  const log = options.log ?? createLogger(config.logLevel, { role: 'primary' });
  collectProcessMetrics();
  buildInfo.set({ version: packageVersion(), node: process.version }, 1);
  // Known label sets start at 0, so rate() and alerts see the first reload or restart.
  for (const result of ['ok', 'failed'])
    for (const what of ['policies', 'certs']) reloads.inc({ result, what }, 0);
  for (const reason of ['crash', 'rolling', 'reload-failed', 'cert-reload'])
    workerRestarts.inc({ reason }, 0);

  const loadOptions: LoadOptions = {
    rules: config.rules,
    configs: config.configs,
    data: config.data,
    ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
  };

  const certProblem = checkCertificates(config);
  if (certProblem !== undefined) throw new TollgateError(errorCode(certProblem.code), certProblem.message);
  const first = await validatePolicySet(loadOptions);
  if (!first.ok) throw new TollgateError(errorCode(first.error.code), first.error.message);
  let active: ActivePolicySet = { generation: 1, source: first.source };
  let activeJson = JSON.stringify(first.source);
  log.info(
    { bindings: first.bindings, policies: first.policies, workers: config.workers },
    'policy set validated',
  );

  cluster.setupPrimary({
    ...(options.exec !== undefined ? { exec: options.exec } : {}),
    ...(options.args !== undefined ? { args: [...options.args] } : {}),
    execArgv: workerExecArgv(options.execArgv ?? process.execArgv, config.semiSpaceMb),
  });

  let aggregator: MetricsAggregator | undefined;
  const supervisor = new Supervisor({
    workers: config.workers,
    gracePeriodMs: config.gracePeriodMs,
    log,
    policySet: () => active,
    onRetire: (last) => void aggregator?.retire(last),
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
    ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
  });
  aggregator = new MetricsAggregator(registry, () => supervisor.collectMetrics(3_000));

  let metricsServer: Server | undefined;
  try {
    // Listen for scrapes first: a port clash is reported before any worker is forked.
    if (config.metricsPort > 0) {
      metricsServer = await startMetricsServer({
        host: config.metricsHost,
        port: config.metricsPort,
        aggregator,
        healthy: () => supervisor.readyCount() > 0,
        log,
      });
    }
    await supervisor.start();
  } catch (e) {
    metricsServer?.close();
    throw e instanceof TollgateError
      ? e
      : new TollgateError('TOLLGATE_ERR_LISTEN', `cannot start: ${describeError(e)}`);
  }
  const address = metricsServer?.address();
  const metricsPort = typeof address === 'object' && address !== null ? address.port : undefined;
  log.info({ port: config.port, metricsPort, workers: config.workers }, 'tollgate serving');

  let reloading: Promise<'ok' | 'unchanged' | 'failed'> | undefined;
  const reloadPolicies = (): Promise<'ok' | 'unchanged' | 'failed'> => {
    const run = async (): Promise<'ok' | 'unchanged' | 'failed'> => {
      const r = await validatePolicySet(loadOptions);
      if (!r.ok) {
        reloads.inc({ result: 'failed', what: 'policies' });
        log.error(
          { code: r.error.code, err: r.error.message },
          'policy reload rejected: the previous policy set stays active',
        );
        return 'failed';
      }
      const json = JSON.stringify(r.source);
      if (json === activeJson) {
        log.debug('policy inputs changed but the policy set is the same');
        return 'unchanged';
      }
      const changed = (['policies', 'bindings', 'data'] as const).filter(
        (k) => JSON.stringify(r.source[k]) !== JSON.stringify(active.source[k]),
      );
      active = { generation: active.generation + 1, source: r.source };
      activeJson = json;
      reloads.inc({ result: 'ok', what: 'policies' });
      log.info(
        { generation: active.generation, bindings: r.bindings, policies: r.policies, changed },
        'policy set reloaded',
      );
      supervisor.broadcast({ type: 'tollgate:reload', generation: active.generation, source: active.source });
      return 'ok';
    };
    // One at a time; a reload asked for while one runs starts after it (files may have changed again).
    const next = (reloading ?? Promise.resolve('unchanged' as const)).then(run, run);
    reloading = next;
    return next;
  };

  let certGeneration = 0;
  const reloadCertificates = async (): Promise<'ok' | 'failed'> => {
    const problem = checkCertificates(config);
    if (problem !== undefined) {
      reloads.inc({ result: 'failed', what: 'certs' });
      log.error(
        { code: problem.code, err: problem.message },
        'certificate reload rejected: the previous certificate stays in use',
      );
      return 'failed';
    }
    certGeneration++;
    reloads.inc({ result: 'ok', what: 'certs' });
    log.info({ generation: certGeneration }, 'certificate changed: workers reload it');
    supervisor.broadcast({ type: 'tollgate:cert-reload', generation: certGeneration });
    return 'ok';
  };

  const watchers: FileWatcher[] = [];
  if (config.watch) {
    const tuning = {
      log,
      ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
      ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    };
    watchers.push(
      new FileWatcher({
        ...tuning,
        paths: [config.rules, ...config.configs, ...config.data],
        onChange: async () => void (await reloadPolicies()),
      }),
    );
    if (!config.insecureHttp && config.tlsCert !== undefined && config.tlsKey !== undefined) {
      watchers.push(
        new FileWatcher({
          ...tuning,
          paths: [config.tlsCert, config.tlsKey],
          onChange: async () => void (await reloadCertificates()),
        }),
      );
    }
  }

  let resolveClosed: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  let stopping: Promise<number> | undefined;
  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  const shutdown = (): Promise<number> => {
    stopping ??= (async () => {
      for (const w of watchers) w.close();
      for (const [sig, h] of signalHandlers) process.off(sig, h);
      await supervisor.shutdown();
      if (metricsServer !== undefined) {
        const server = metricsServer;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      log.info('tollgate stopped');
      flushLogs();
      resolveClosed(0);
      return 0;
    })();
    return stopping;
  };

  if (options.signals !== false) {
    const on = (sig: NodeJS.Signals, h: () => void): void => {
      signalHandlers.push([sig, h]);
      process.on(sig, h);
    };
    const stop = (sig: string) => () => {
      log.info({ signal: sig }, 'shutting down');
      void shutdown();
    };
    on('SIGTERM', stop('SIGTERM'));
    on('SIGINT', stop('SIGINT'));
    on('SIGHUP', () => {
      log.info({ signal: 'SIGHUP' }, 'reloading policies and certificates');
      void reloadPolicies().then(() => reloadCertificates());
    });
    on('SIGUSR2', () => {
      log.info({ signal: 'SIGUSR2' }, 'rolling restart requested');
      void supervisor.rollingRestart();
    });
  }

  return {
    metricsPort,
    closed,
    shutdown,
    rollingRestart: () => supervisor.rollingRestart(),
    reloadPolicies,
    reloadCertificates,
    workerPids: () => supervisor.pids(),
    generation: () => active.generation,
  };
}

/**
 * Node flags for the workers: the primary's own (or the caller's), with the semi-space set from the
 * config unless the flags already name one. Request garbage dies young: a small young generation is
 * scavenged as fast as a large one and keeps the worker's resident memory down. The minimum is set too:
 * V8 starts at 1 MB and grows a semi-space only when much survives, which request garbage never does, so
 * pool threads stayed at 1 MB and scavenged twice as often (1–2 % more CPU per request on one core,
 * about this machine's noise).
 * V8 flags are per process: the pool threads start at the same size.
 */
export function workerExecArgv(base: readonly string[], semiSpaceMb: number): string[] {
  const names = (flag: string) =>
    base.some((a) => new RegExp(`^--${flag}[-_]semi[-_]space[-_]size(=|$)`).test(a));
  // A maximum given by the caller wins, and a minimum above it would be clamped to it anyway.
  if (names('max')) return [...base];
  const out = [...base, `--max-semi-space-size=${semiSpaceMb}`];
  if (!names('min')) out.push(`--min-semi-space-size=${semiSpaceMb}`);
  return out;
}
