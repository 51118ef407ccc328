/**
 * A cluster worker: waits for the primary's policy set, builds its engine, listens on the shared port
 * (SO_REUSEPORT), then serves until told to shut down. The conversation with the primary is the typed
 * one in src/ipc/cluster-messages.ts. Run outside a cluster (no IPC channel), the worker loads the policy
 * set itself.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { ServeConfig } from '../config/index.js';
import type { PolicySetSource } from '../engine/types.js';
import { describeError, isTollgateError } from '../errors.js';
import {
  assertNever,
  type ErrorValue,
  onPrimaryMessage,
  type PrimaryMessage,
  sendToPrimary,
  type WorkerMessage,
} from '../ipc/cluster-messages.js';
import { createLogger, flushLogs, type Logger } from '../log/index.js';
import { collectProcessMetrics, policiesLoaded, registry } from '../metrics/index.js';
import { loadUws } from '../uws.js';
import { createWorkerEngine, type WorkerEngine } from './engine.js';
import { WebhookServer } from './server.js';

export { WebhookServer } from './server.js';

function errorValue(e: unknown): ErrorValue {
  if (isTollgateError(e)) return { code: e.code, message: e.message };
  return { code: 'TOLLGATE_ERR_INTERNAL', message: describeError(e) };
}

/** Send a message and wait until it left (before process.exit, which would drop it). */
function sendAndWait(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (typeof process.send !== 'function' || !process.connected) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, 1000);
    process.send(message, undefined, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

class Worker {
  private engine: WorkerEngine | undefined;
  private generation = 0;
  private readonly server: WebhookServer;
  private drainStarted = false;
  private initStarted = false;

  constructor(
    private readonly config: ServeConfig,
    private readonly log: Logger,
    private readonly inCluster: boolean,
  ) {
    const authToken =
      config.authTokenFile !== undefined ? readFileSync(config.authTokenFile, 'utf8').trim() : undefined;
    this.server = new WebhookServer({ uws: loadUws(), config, log, engine: () => this.engine, authToken });
  }

  /** Build the engine from a policy set, then listen: a worker takes traffic only once it can answer. */
  async serve(source: PolicySetSource, generation: number): Promise<number> {
    this.engine = await createWorkerEngine(source, this.config);
    this.generation = generation;
    policiesLoaded.set(this.engine.bindingCount);
    const port = await this.server.listen();
    this.log.info(
      { port, generation, bindings: this.engine.bindingCount, tls: !this.config.insecureHttp },
      'worker serving',
    );
    return port;
  }

  onMessage(m: PrimaryMessage): void {
    switch (m.type) {
      case 'tollgate:init':
        void this.init(m.source, m.generation);
        return;
      case 'tollgate:reload':
        void this.reload(m.source, m.generation);
        return;
      case 'tollgate:cert-reload':
        void this.reloadCerts(m.generation);
        return;
      case 'tollgate:shutdown':
        void this.drain(m.graceMs, 'shutdown requested by the primary');
        return;
      case 'tollgate:metrics-request':
        void this.metrics().then(
          (metrics) => sendToPrimary({ type: 'tollgate:metrics-response', id: m.id, metrics }),
          (e: unknown) => this.log.error({ err: describeError(e) }, 'collecting metrics failed'),
        );
        return;
      default:
        assertNever(m);
    }
  }

  /** This worker's metrics, after the pool threads sent the counts they hold. */
  private async metrics(): ReturnType<typeof registry.getMetricsAsJSON> {
    try {
      await this.engine?.flushMetrics();
    } catch (e) {
      this.log.warn({ err: describeError(e) }, 'flushing pool metrics failed');
    }
    return registry.getMetricsAsJSON();
  }

  private async init(source: PolicySetSource, generation: number): Promise<void> {
    if (this.initStarted) return;
    this.initStarted = true;
    try {
      const port = await this.serve(source, generation);
      sendToPrimary({ type: 'tollgate:ready', generation, port });
    } catch (e) {
      await this.fatal(e);
    }
  }

  private async reload(source: PolicySetSource, generation: number): Promise<void> {
    const engine = this.engine;
    if (engine === undefined || this.drainStarted) return;
    try {
      await engine.reload(source);
      this.generation = generation;
      policiesLoaded.set(engine.bindingCount);
      this.log.info({ generation, bindings: engine.bindingCount }, 'policies reloaded');
      sendToPrimary({ type: 'tollgate:reload-result', what: 'policies', generation, ok: true });
    } catch (e) {
      this.log.error(
        { generation, err: describeError(e) },
        'policy reload failed: still serving the previous set',
      );
      sendToPrimary({
        type: 'tollgate:reload-result',
        what: 'policies',
        generation,
        ok: false,
        error: errorValue(e),
      });
    }
  }

  private async reloadCerts(generation: number): Promise<void> {
    try {
      await this.server.reloadCertificates();
      this.log.info({ generation }, 'certificate reloaded');
      sendToPrimary({ type: 'tollgate:reload-result', what: 'certs', generation, ok: true });
    } catch (e) {
      this.log.error({ generation, err: describeError(e) }, 'certificate reload failed');
      sendToPrimary({
        type: 'tollgate:reload-result',
        what: 'certs',
        generation,
        ok: false,
        error: errorValue(e),
      });
    }
  }

  /** Stop accepting, let in-flight requests finish (up to graceMs), then exit 0. */
  async drain(graceMs: number, why: string): Promise<void> {
    if (this.drainStarted) return;
    this.drainStarted = true;
    this.server.stopListening();
    this.log.info(
      { inFlight: this.server.inFlight, graceMs, generation: this.generation },
      `draining: ${why}`,
    );
    const deadline = performance.now() + graceMs;
    const idle = await this.server.waitIdle(graceMs);
    if (!idle) this.log.warn({ inFlight: this.server.inFlight }, 'grace period over with requests in flight');
    await this.linger(deadline);
    if (this.inCluster) {
      try {
        await sendAndWait({ type: 'tollgate:final-metrics', metrics: await this.metrics() });
      } catch {
        // The primary may be gone already.
      }
    }
    try {
      await this.engine?.close();
    } catch (e) {
      this.log.warn({ err: describeError(e) }, 'closing the engine failed');
    }
    this.log.info('worker exiting');
    flushLogs();
    process.exit(0);
  }

  /**
   * Pooled keep-alive connections (the API server keeps them 90 s) may still bring requests after the
   * listen socket closed; those are answered with Connection: close. With --drain-linger, wait until no
   * request came for that long (uWS closes idle connections after 8–12 s), so exiting resets nothing.
   */
  private async linger(deadline: number): Promise<void> {
    const lingerMs = this.config.drainLingerMs;
    if (lingerMs <= 0) return;
    for (;;) {
      const now = performance.now();
      const quietFor = now - this.server.lastActivity;
      if (this.server.inFlight === 0 && quietFor >= lingerMs) return;
      if (now >= deadline) return;
      const wait = Math.min(deadline - now, this.server.inFlight > 0 ? 50 : lingerMs - quietFor);
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, wait)));
    }
  }

  async fatal(e: unknown): Promise<never> {
    const error = errorValue(e);
    this.log.fatal({ code: error.code }, error.message);
    flushLogs();
    process.stderr.write(`tollgate serve (worker ${process.pid}): ${error.message} [${error.code}]\n`);
    if (this.inCluster) await sendAndWait({ type: 'tollgate:fatal', error });
    process.exit(2);
  }
}

/**
 * Start this process's webhook server. In a cluster worker the policy set comes from the primary's
 * `init` message; standalone, it is loaded from the configured files. Resolves once started (the
 * process then lives on its listen socket until drained).
 */
export async function startWorker(config: ServeConfig): Promise<void> {
  const inCluster = cluster.isWorker && typeof process.send === 'function';
  const log = createLogger(config.logLevel, {
    role: 'worker',
    ...(cluster.worker ? { worker: cluster.worker.id } : {}),
  });
  const worker = new Worker(config, log, inCluster);
  collectProcessMetrics();

  const onSignal = (signal: string) => () => void worker.drain(config.gracePeriodMs, signal);
  process.on('SIGTERM', onSignal('SIGTERM'));
  process.on('SIGINT', onSignal('SIGINT'));

  if (inCluster) {
    // The primary is gone (crashed or killed): do not linger as an orphan holding the port.
    process.on('disconnect', () => void worker.drain(config.gracePeriodMs, 'primary disconnected'));
    onPrimaryMessage((m) => worker.onMessage(m));
    sendToPrimary({ type: 'tollgate:hello', pid: process.pid });
    return;
  }
  try {
    // Without a primary (tests, tools) the worker compiles its own set.
    const { loadSource } = await import('../engine/engine.js');
    const source = await loadSource({
      rules: config.rules,
      configs: config.configs,
      data: config.data,
      ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
    });
    await worker.serve(source, 1);
  } catch (e) {
    await worker.fatal(e);
  }
}
