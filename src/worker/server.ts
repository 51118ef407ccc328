/**
 * The webhook's HTTP(S) server on uWebSockets.js: routing, request checks, body reading with limits,
 * deadlines, and answers. One catch-all route does the routing itself, because uWS force-closes the
 * socket when no route matches (the API server would see an EOF instead of a 404 it can report).
 *
 *   POST /validate, POST / (same), POST /mutate   AdmissionReview in, AdmissionReview out
 *   GET  /healthz                                 the process serves HTTP
 *   GET  /readyz                                  policies loaded and not draining
 */
import { performance } from 'node:perf_hooks';
import type { ServeConfig } from '../config/index.js';
import type { Endpoint } from '../engine/reply.js';
import { describeError, TollgateError } from '../errors.js';
import type { Logger } from '../log/index.js';
import type { Uws } from '../uws.js';
import type { WorkerEngine } from './engine.js';
import { closeConnection, type ResponseState, sendError, sendJson } from './respond.js';
import { handleWebhook, type WebhookContext } from './webhook.js';

type UwsModule = typeof import('uWebSockets.js');

export interface ServerOptions {
  readonly uws: UwsModule;
  readonly config: ServeConfig;
  readonly log: Logger;
  /** The engine, or undefined while the first policy set is loading. */
  readonly engine: () => WorkerEngine | undefined;
  /** When set, webhook calls must carry `Authorization: Bearer <token>`. */
  readonly authToken?: string | undefined;
}

const WEBHOOK_PATHS: ReadonlyMap<string, Endpoint> = new Map([
  ['/validate', 'validate'],
  ['/validate/', 'validate'],
  ['/', 'validate'],
  ['/mutate', 'mutate'],
  ['/mutate/', 'mutate'],
]);

export class WebhookServer {
  private readonly opts: ServerOptions;
  /** Apps stay referenced while their connections may be open (an app that is collected frees its sockets). */
  private readonly apps: Uws.TemplatedApp[] = [];
  private listenSocket: Uws.us_listen_socket | undefined;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private draining = false;
  private readonly webhookContext: WebhookContext;
  private boundPort = 0;

  constructor(opts: ServerOptions) {
    this.opts = opts;
    const authToken = opts.authToken !== undefined ? Buffer.from(`Bearer ${opts.authToken}`) : undefined;
    this.webhookContext = {
      config: opts.config,
      log: opts.log,
      authToken,
      engine: opts.engine,
      draining: () => this.draining,
      begin: () => this.begin(),
      end: () => this.end(),
    };
  }

  get port(): number {
    return this.boundPort;
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** Build the app (TLS unless --insecure-http) and listen; every worker binds the same port (SO_REUSEPORT). */
  listen(): Promise<number> {
    return this.bind(this.opts.config.port);
  }

  /**
   * Take new certificate files into use: a new TLS app listens on the port we hold (SO_REUSEPORT), then
   * the old listen socket closes. Open connections finish on the old certificate.
   */
  async reloadCertificates(): Promise<void> {
    if (this.opts.config.insecureHttp || this.draining) return;
    await this.bind(this.boundPort);
  }

  private bind(port: number): Promise<number> {
    const { uws, config } = this.opts;
    const app = this.createApp();
    return new Promise((resolve, reject) => {
      app.listen(config.host, port, (socket) => {
        if (socket === false) {
          reject(
            new TollgateError(
              'TOLLGATE_ERR_LISTEN',
              `cannot listen on ${config.host}:${port}: the port is in use by another program or not permitted`,
            ),
          );
          return;
        }
        const previous = this.listenSocket;
        this.apps.push(app);
        this.listenSocket = socket;
        this.boundPort = uws.us_socket_local_port(socket as unknown as Uws.us_socket);
        if (previous !== undefined) uws.us_listen_socket_close(previous);
        resolve(this.boundPort);
      });
    });
  }

  private createApp(): Uws.TemplatedApp {
    const { uws, config } = this.opts;
    let app: Uws.TemplatedApp;
    if (config.insecureHttp) {
      app = uws.App();
    } else {
      const cert = config.tlsCert;
      const key = config.tlsKey;
      if (cert === undefined || key === undefined) {
        throw new TollgateError('TOLLGATE_ERR_CONFIG_INVALID', '--tls-cert and --tls-key are required');
      }
      try {
        // uSockets' TLS context allows TLS 1.2 and 1.3 only; uWS answers without ALPN, which clients
        // offering ["h2","http/1.1"] treat as HTTP/1.1.
        app = uws.SSLApp({ cert_file_name: cert, key_file_name: key });
      } catch (e) {
        throw new TollgateError(
          'TOLLGATE_ERR_LISTEN',
          `cannot load the TLS key/certificate (${cert}, ${key}): ${describeError(e)}`,
        );
      }
    }
    app.any('/*', (res, req) => this.route(res, req));
    return app;
  }

  /** Stop accepting connections; requests on open connections are still answered (with Connection: close). */
  stopListening(): void {
    this.draining = true;
    if (this.listenSocket !== undefined) {
      this.opts.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Resolves true when no request is in flight, or false when `ms` passes first. */
  waitIdle(ms: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** performance.now() of the last request start or end (for the drain linger). */
  lastActivity = performance.now();

  /** Called from route(), which has just stamped lastActivity for this request. */
  private begin(): void {
    this.inflight++;
  }

  private end(): void {
    this.inflight--;
    this.lastActivity = performance.now();
    if (this.inflight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * The one route. An exception escaping a uWS handler terminates the process, so everything is caught
   * and answered with a 500 Status.
   */
  private route(res: Uws.HttpResponse, req: Uws.HttpRequest): void {
    this.lastActivity = performance.now();
    const method = req.getMethod().toUpperCase();
    const state: ResponseState = { aborted: false, done: false, head: method === 'HEAD' };
    try {
      const url = req.getUrl();
      const endpoint = WEBHOOK_PATHS.get(url);
      if (endpoint !== undefined) {
        if (method !== 'POST') {
          sendError(res, state, 'TOLLGATE_ERR_HTTP_METHOD', `${method} ${url} is not allowed: use POST`, {
            headers: [['Allow', 'POST']],
          });
          return;
        }
        handleWebhook(this.webhookContext, res, req, state, endpoint);
        return;
      }
      if (url === '/healthz' || url === '/readyz') {
        if (method !== 'GET' && method !== 'HEAD') {
          sendError(res, state, 'TOLLGATE_ERR_HTTP_METHOD', `${method} ${url} is not allowed: use GET`, {
            headers: [['Allow', 'GET, HEAD']],
          });
          return;
        }
        if (url === '/readyz' && (this.draining || this.opts.engine() === undefined)) {
          sendError(
            res,
            state,
            'TOLLGATE_ERR_UNAVAILABLE',
            this.draining ? 'shutting down' : 'policies are not loaded yet',
            {
              close: this.draining,
            },
          );
          return;
        }
        sendJson(res, state, 200, '{"status":"ok"}', { close: this.draining });
        return;
      }
      sendError(
        res,
        state,
        'TOLLGATE_ERR_HTTP_NOT_FOUND',
        `no such endpoint: ${method} ${url.slice(0, 200)}`,
      );
    } catch (e) {
      this.opts.log.error({ err: describeError(e) }, 'request handler failed');
      // Returning without answering (or onAborted) makes uWS terminate the process: answer or close.
      if (!state.done && !state.aborted) {
        try {
          sendError(res, state, 'TOLLGATE_ERR_INTERNAL', 'internal error');
        } catch {
          closeConnection(res, state);
        }
      }
    }
  }
}
