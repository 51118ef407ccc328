/**
 * Forks the workers and keeps `workers` of them serving: a crashed worker is respawned with exponential
 * backoff (the others keep serving the port: each worker has its own SO_REUSEPORT listen socket), a
 * rolling restart replaces workers one at a time (the successor is ready before its predecessor drains),
 * and shutdown drains every worker within the grace period, then kills what is left.
 */
import cluster, { type Worker } from 'node:cluster';
import type { PolicySetSource } from '../engine/types.js';
import { ERRORS, type ErrorCode, TollgateError } from '../errors.js';
import {
  dispatch,
  type ErrorValue,
  isWorkerMessage,
  type MetricsSnapshot,
  type PrimaryMessage,
  type WorkerMessage,
} from '../ipc/cluster-messages.js';
import type { Logger } from '../log/index.js';
import { workerRestarts, workersReady } from '../metrics/index.js';

export interface ActivePolicySet {
  readonly generation: number;
  readonly source: PolicySetSource;
}

export interface SupervisorOptions {
  readonly workers: number;
  readonly gracePeriodMs: number;
  readonly log: Logger;
  /** The policy set a starting worker is given. */
  readonly policySet: () => ActivePolicySet;
  /** First respawn delay; doubles per consecutive crash up to maxBackoffMs. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A worker that served this long before crashing starts its slot's backoff afresh. */
  readonly stableMs?: number;
  /** How long a new worker may take to say `ready`. */
  readonly startTimeoutMs?: number;
  /** Called with an exited worker's last metrics, so its counts outlive it. */
  readonly onRetire?: (last: MetricsSnapshot) => void;
}

type State = 'starting' | 'ready' | 'draining' | 'exited';

class Managed {
  state: State = 'starting';
  readyAt = 0;
  generation = 0;
  lastMetrics: MetricsSnapshot | undefined;
  /** Set when the primary asked it to stop: its exit is not a crash. */
  retiring = false;
  fatal: ErrorValue | undefined;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private readyWaiters: ((ok: boolean) => void)[] = [];

  constructor(
    readonly worker: Worker,
    public slot: number,
  ) {
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number | undefined {
    return this.worker.process.pid;
  }

  send(message: PrimaryMessage): void {
    if (this.state === 'exited' || !this.worker.isConnected()) return;
    try {
      this.worker.send(message);
    } catch {
      // The channel closed between the check and the send: the exit handler deals with it.
    }
  }

  markReady(): void {
    this.state = 'ready';
    this.readyAt = Date.now();
    for (const w of this.readyWaiters.splice(0)) w(true);
  }

  markFailed(): void {
    for (const w of this.readyWaiters.splice(0)) w(false);
  }

  /** Resolves true once ready, false if it exits or does not get ready in time. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.state === 'ready') return Promise.resolve(true);
    if (this.state !== 'starting') return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push((ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Slot {
  readonly index: number;
  current: Managed | undefined;
  crashes: number;
  respawnTimer: NodeJS.Timeout | undefined;
}

interface PendingMetrics {
  readonly waiting: Map<Managed, (m: MetricsSnapshot | undefined) => void>;
}

export class Supervisor {
  private readonly slots: Slot[];
  private readonly all = new Set<Managed>();
  private readonly byWorker = new Map<Worker, Managed>();
  private stopping = false;
  private starting = false;
  private restartChain: Promise<void> = Promise.resolve();
  private metricsSeq = 0;
  private readonly pendingMetrics = new Map<number, PendingMetrics>();
  private readonly log: Logger;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly stableMs: number;
  private readonly startTimeoutMs: number;

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.log;
    this.backoffMs = opts.backoffMs ?? 250;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.stableMs = opts.stableMs ?? 30_000;
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.slots = Array.from({ length: opts.workers }, (_, index) => ({
      index,
      current: undefined,
      crashes: 0,
      respawnTimer: undefined,
    }));
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.onExit);
  }

  /**
   * Fork every slot and wait until all are ready. The first worker that cannot start (it exits, says
   * `fatal`, or is not ready in time) stops them all and fails the start: nothing is respawned then.
   */
  async start(): Promise<void> {
    this.starting = true;
    const started = this.slots.map((s) => this.fork(s));
    const failed = await new Promise<Managed | undefined>((resolve) => {
      let pending = started.length;
      for (const w of started) {
        void w.whenReady(this.startTimeoutMs).then((ok) => {
          if (!ok) resolve(w);
          else if (--pending === 0) resolve(undefined);
        });
      }
    });
    if (failed !== undefined) {
      // The reason arrives as a `fatal` message just before the exit; give a slow one a moment.
      if (failed.fatal === undefined && failed.state !== 'exited')
        await Promise.race([failed.exited, delay(1000)]);
      const fatal = failed.fatal;
      await this.shutdown();
      if (fatal !== undefined) {
        const code = Object.hasOwn(ERRORS, fatal.code) ? (fatal.code as ErrorCode) : 'TOLLGATE_ERR_INTERNAL';
        throw new TollgateError(code, `a worker failed to start: ${fatal.message}`);
      }
      throw new TollgateError(
        'TOLLGATE_ERR_LISTEN',
        `worker ${failed.slot} exited or was not ready within ${this.startTimeoutMs} ms (see its log)`,
      );
    }
    this.starting = false;
    this.log.info({ workers: this.slots.length }, 'all workers ready');
  }

  /** Workers currently serving. */
  readyCount(): number {
    let n = 0;
    for (const w of this.all) if (w.state === 'ready' && !w.retiring) n++;
    return n;
  }

  /** Process ids of the workers in their slots (for tests and logs). */
  pids(): (number | undefined)[] {
    return this.slots.map((s) => s.current?.pid);
  }

  /** Send a message to every worker that has (or is about to have) a policy set. */
  broadcast(message: PrimaryMessage): void {
    for (const w of this.all) if (w.state === 'ready' || w.state === 'starting') w.send(message);
  }

  /**
   * Replace every worker, one slot at a time: fork the successor, wait until it is ready, then drain the
   * predecessor. A successor that fails to start stops the restart and the old worker keeps serving.
   */
  rollingRestart(reason = 'rolling'): Promise<void> {
    const run = async (): Promise<void> => {
      this.log.info({ reason }, 'rolling restart started');
      for (const slot of this.slots) {
        if (this.stopping) return;
        const ok = await this.replace(slot, reason);
        if (!ok) {
          this.log.error(
            { slot: slot.index, reason },
            'rolling restart stopped: a new worker did not get ready',
          );
          return;
        }
      }
      this.log.info({ reason }, 'rolling restart done');
    };
    this.restartChain = this.restartChain.then(run, run);
    return this.restartChain;
  }

  /** Replace the worker of one slot (after a failed reload, for example). */
  replaceWorker(pid: number, reason: string): Promise<void> {
    const run = async (): Promise<void> => {
      const slot = this.slots.find((s) => s.current?.pid === pid);
      if (slot !== undefined && !this.stopping) await this.replace(slot, reason);
    };
    this.restartChain = this.restartChain.then(run, run);
    return this.restartChain;
  }

  /** Ask every live worker for its metrics; a worker that does not answer in time gives its last ones. */
  async collectMetrics(timeoutMs: number): Promise<{ slot: number | undefined; metrics: MetricsSnapshot }[]> {
    const id = ++this.metricsSeq;
    const live = [...this.all].filter((w) => w.state !== 'exited' && w.worker.isConnected());
    const pending: PendingMetrics = { waiting: new Map() };
    this.pendingMetrics.set(id, pending);
    const answers = await Promise.all(
      live.map(
        (w) =>
          new Promise<MetricsSnapshot | undefined>((resolve) => {
            const timer = setTimeout(() => {
              pending.waiting.delete(w);
              resolve(w.lastMetrics);
            }, timeoutMs);
            pending.waiting.set(w, (m) => {
              clearTimeout(timer);
              resolve(m);
            });
            w.send({ type: 'tollgate:metrics-request', id });
          }),
      ),
    );
    this.pendingMetrics.delete(id);
    const out: { slot: number | undefined; metrics: MetricsSnapshot }[] = [];
    live.forEach((w, i) => {
      const metrics = answers[i];
      // A worker that exited meanwhile has been retired with its last counts: counting it here too
      // would make this scrape too high and the next one lower.
      if (metrics === undefined || w.state === 'exited') return;
      w.lastMetrics = metrics;
      out.push({ slot: w.retiring || w.state !== 'ready' ? undefined : w.slot, metrics });
    });
    return out;
  }

  /**
   * Stop every worker: each closes its listen socket, answers what is in flight and exits. Whatever is
   * still running after the grace period is killed.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const s of this.slots) {
      if (s.respawnTimer !== undefined) clearTimeout(s.respawnTimer);
      s.respawnTimer = undefined;
    }
    const live = [...this.all].filter((w) => w.state !== 'exited');
    this.log.info({ workers: live.length, graceMs: this.opts.gracePeriodMs }, 'stopping workers');
    await Promise.all(live.map((w) => this.drain(w)));
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.onExit);
    workersReady.set(0);
  }

  private fork(slot: Slot): Managed {
    const worker = cluster.fork();
    const w = new Managed(worker, slot.index);
    this.all.add(w);
    this.byWorker.set(worker, w);
    slot.current = w;
    this.log.debug({ slot: slot.index, workerPid: w.pid }, 'worker forked');
    return w;
  }

  /** Fork a successor for the slot, wait for it, then drain the predecessor. */
  private async replace(slot: Slot, reason: string): Promise<boolean> {
    const old = slot.current;
    const successor = this.fork(slot);
    workerRestarts.inc({ reason });
    const ok = await successor.whenReady(this.startTimeoutMs);
    if (!ok) {
      if (successor.state !== 'exited') {
        successor.retiring = true;
        successor.worker.process.kill('SIGKILL');
      }
      // The predecessor keeps its slot (unless it died meanwhile; then the slot respawns as usual).
      if (old !== undefined && old.state !== 'exited') slot.current = old;
      return false;
    }
    if (old !== undefined && old.state !== 'exited') await this.drain(old);
    return true;
  }

  /** Ask one worker to stop and wait for it, killing it after the grace period. */
  private async drain(w: Managed): Promise<void> {
    w.retiring = true;
    if (w.state !== 'exited') {
      w.state = 'draining';
      this.updateReady();
      w.send({ type: 'tollgate:shutdown', graceMs: this.opts.gracePeriodMs });
    }
    const timer = setTimeout(() => {
      if (w.state !== 'exited') {
        this.log.warn(
          { slot: w.slot, workerPid: w.pid },
          'worker did not stop within the grace period: killed',
        );
        w.worker.process.kill('SIGKILL');
      }
    }, this.opts.gracePeriodMs);
    await w.exited;
    clearTimeout(timer);
  }

  private updateReady(): void {
    workersReady.set(this.readyCount());
  }

  private readonly onMessage = (worker: Worker, raw: unknown): void => {
    const w = this.byWorker.get(worker);
    if (w === undefined || !isWorkerMessage(raw)) return;
    this.handle(w, raw);
  };

  private handle(w: Managed, message: WorkerMessage): void {
    dispatch(message, {
      'tollgate:hello': () => {
        const set = this.opts.policySet();
        w.generation = set.generation;
        w.send({ type: 'tollgate:init', slot: w.slot, generation: set.generation, source: set.source });
      },
      'tollgate:ready': (m) => {
        if (w.state !== 'starting') return;
        w.generation = m.generation;
        w.markReady();
        this.updateReady();
        this.log.info(
          { slot: w.slot, workerPid: w.pid, port: m.port, generation: m.generation },
          'worker ready',
        );
        // A reload accepted while this worker was starting: bring it up to date.
        const set = this.opts.policySet();
        if (set.generation !== m.generation) {
          w.send({ type: 'tollgate:reload', generation: set.generation, source: set.source });
        }
      },
      'tollgate:reload-result': (m) => {
        if (m.ok) {
          if (m.what === 'policies') w.generation = m.generation;
          this.log.info(
            { slot: w.slot, workerPid: w.pid, what: m.what, generation: m.generation },
            'worker reloaded',
          );
          return;
        }
        this.log.error(
          { slot: w.slot, workerPid: w.pid, what: m.what, code: m.error?.code, err: m.error?.message },
          'worker could not apply the reload: replacing it',
        );
        if (w.pid !== undefined && !w.retiring) {
          void this.replaceWorker(w.pid, m.what === 'certs' ? 'cert-reload' : 'reload-failed');
        }
      },
      'tollgate:metrics-response': (m) => {
        this.pendingMetrics.get(m.id)?.waiting.get(w)?.(m.metrics);
      },
      'tollgate:final-metrics': (m) => {
        w.lastMetrics = m.metrics;
      },
      'tollgate:fatal': (m) => {
        w.fatal = m.error;
        this.log.error(
          { slot: w.slot, workerPid: w.pid, code: m.error.code, err: m.error.message },
          'worker cannot start',
        );
      },
    });
  }

  private readonly onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    const w = this.byWorker.get(worker);
    if (w === undefined) return;
    const wasReady = w.state === 'ready';
    w.state = 'exited';
    w.markFailed();
    this.all.delete(w);
    this.byWorker.delete(worker);
    this.updateReady();
    if (w.lastMetrics !== undefined) this.opts.onRetire?.(w.lastMetrics);
    const slot = this.slots[w.slot];
    if (slot === undefined || slot.current !== w) return; // replaced: its successor holds the slot
    slot.current = undefined;
    if (this.stopping || this.starting || w.retiring) return;
    // A crash: respawn with backoff. A worker that had been serving for a while starts afresh.
    if (wasReady && Date.now() - w.readyAt >= this.stableMs) slot.crashes = 0;
    slot.crashes++;
    const delay = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (slot.crashes - 1));
    this.log.error(
      { slot: slot.index, workerPid: w.pid, code, signal, crashes: slot.crashes, respawnInMs: delay },
      'worker exited unexpectedly: respawning',
    );
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = undefined;
      if (this.stopping || slot.current !== undefined) return;
      workerRestarts.inc({ reason: 'crash' });
      this.fork(slot);
    }, delay);
  };
}
