/**
 * The webhook's HTTP(S) server on uWebSockets.js: routing, request checks, body reading with limits,
 * deadlines, and answers. One catch-all route does the routing itself, because uWS force-closes the
 * socket when no route matches (the API server would see an EOF instead of a 404 it can report).
 *
 *   POST /validate, POST / (same), POST /mutate   AdmissionReview in, AdmissionReview out
 *   GET  /healthz                                 the process serves HTTP
 *   GET  /readyz                                  policies loaded and not draining
 */
import { timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ServeConfig } from '../config/index.js';
import { parseGoDuration } from '../config/index.js';
import { type Endpoint, type EngineReply, errorReply } from '../engine/engine.js';
import type { Decision } from '../engine/types.js';
import { describeError, ERRORS, type ErrorCode, TollgateError } from '../errors.js';
import type { Logger } from '../log/index.js';
import { recordRequest } from '../metrics/index.js';
import type { Uws } from '../uws.js';
import { readBody } from './body.js';
import type { WorkerEngine } from './engine.js';
import { closeConnection, type ResponseState, sendError, sendJson } from './respond.js';

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

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** The request deadline from `?timeout=` (a Go duration), the default when missing or garbled, capped. */
export function requestTimeoutMs(
  param: string,
  config: Pick<ServeConfig, 'defaultTimeoutMs' | 'maxTimeoutMs'>,
): number {
  const ms = param === '' ? undefined : parseGoDuration(param);
  if (ms === undefined || !(ms > 0)) return config.defaultTimeoutMs;
  return Math.min(ms, config.maxTimeoutMs);
}

export class WebhookServer {
  private readonly opts: ServerOptions;
  /** Apps stay referenced while their connections may be open (an app that is collected frees its sockets). */
  private readonly apps: Uws.TemplatedApp[] = [];
  private listenSocket: Uws.us_listen_socket | undefined;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private draining = false;
  private readonly authToken: Buffer | undefined;
  private boundPort = 0;

  constructor(opts: ServerOptions) {
    this.opts = opts;
    this.authToken = opts.authToken !== undefined ? Buffer.from(`Bearer ${opts.authToken}`) : undefined;
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

  private begin(): void {
    this.inflight++;
    this.lastActivity = performance.now();
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
        this.webhook(res, req, state, endpoint);
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

  private webhook(
    res: Uws.HttpResponse,
    req: Uws.HttpRequest,
    state: ResponseState,
    endpoint: Endpoint,
  ): void {
    const { config, log } = this.opts;
    const t0 = performance.now();
    // The HttpRequest lives on uWS's stack: read every header and the query now, before any callback.
    const contentType = req.getHeader('content-type');
    const contentEncoding = req.getHeader('content-encoding');
    const contentLengthHeader = req.getHeader('content-length');
    const authorization = this.authToken !== undefined ? req.getHeader('authorization') : '';
    const timeoutMs = requestTimeoutMs(req.getQuery('timeout') ?? '', config);
    const close = this.draining;

    const reject = (code: ErrorCode, message: string, closeConn = close): void => {
      if (sendError(res, state, code, message, { close: closeConn })) {
        recordRequest(endpoint, errorStatus(code), undefined, (performance.now() - t0) / 1000);
        log.info({ endpoint, code }, message);
      }
    };

    // Requests that cannot be served are refused before the body is read; the connection is closed so
    // the unread body is not parsed as the next request.
    if (this.authToken !== undefined && !tokenMatches(this.authToken, authorization)) {
      reject('TOLLGATE_ERR_HTTP_UNAUTHORIZED', 'missing or wrong bearer token', true);
      return;
    }
    if (!JSON_TYPE.test(contentType)) {
      reject(
        'TOLLGATE_ERR_HTTP_MEDIA_TYPE',
        `Content-Type must be application/json, got ${JSON.stringify(contentType.slice(0, 100))}`,
        true,
      );
      return;
    }
    if (contentEncoding !== '' && contentEncoding.toLowerCase() !== 'identity') {
      reject(
        'TOLLGATE_ERR_HTTP_MEDIA_TYPE',
        `Content-Encoding ${JSON.stringify(contentEncoding.slice(0, 50))} is not supported: send an uncompressed body`,
        true,
      );
      return;
    }
    const announced = contentLengthHeader === '' ? undefined : Number(contentLengthHeader);
    if (announced !== undefined && !(Number.isSafeInteger(announced) && announced >= 0)) {
      reject('TOLLGATE_ERR_ADMISSION_BAD_JSON', 'invalid Content-Length', true);
      return;
    }
    if (announced !== undefined && announced > config.bodyLimitBytes) {
      reject(
        'TOLLGATE_ERR_HTTP_BODY_TOO_LARGE',
        `request body of ${announced} bytes exceeds the limit of ${config.bodyLimitBytes} bytes`,
        true,
      );
      return;
    }
    const engine = this.opts.engine();
    if (engine === undefined) {
      reject('TOLLGATE_ERR_UNAVAILABLE', 'policies are not loaded yet');
      return;
    }

    // From here on the answer is asynchronous: uWS requires onAborted before the handler returns.
    this.begin();
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      this.end();
    };
    res.onAborted(() => {
      state.aborted = true;
      if (!state.done) log.info({ endpoint }, 'client closed the connection before the answer');
      finish();
    });

    // The deadline covers reading the body too: a body trickled in slower than the request's own timeout
    // (slow-loris) is answered 504 and its connection closed; a slow evaluation gets a 504 Status a
    // little before the API server gives up (it would discard a later answer anyway).
    let bodyComplete = false;
    const deadline = setTimeout(
      () => {
        const why = bodyComplete
          ? `evaluation did not finish within ${timeoutMs}ms`
          : `request body not received within ${timeoutMs}ms`;
        if (sendError(res, state, 'TOLLGATE_ERR_DEADLINE_EXCEEDED', why, { close: close || !bodyComplete })) {
          recordRequest(endpoint, 504, undefined, (performance.now() - t0) / 1000);
          log.warn({ endpoint, timeoutMs }, why);
        }
        finish();
      },
      Math.max(1, timeoutMs - config.timeoutMarginMs / 2),
    );

    readBody(res, announced, config.bodyLimitBytes, (r) => {
      bodyComplete = true;
      if (state.done || state.aborted) return;
      if (!r.ok) {
        reject(
          'TOLLGATE_ERR_HTTP_BODY_TOO_LARGE',
          `request body exceeds the limit of ${config.bodyLimitBytes} bytes`,
          true,
        );
        finish();
        return;
      }
      const t1 = performance.now();
      const budget = Math.max(1, Math.floor(timeoutMs - config.timeoutMarginMs - (t1 - t0)));
      let pending: Promise<EngineReply>;
      try {
        pending = engine.evaluate({ body: r.body, endpoint, timeoutMs: budget });
      } catch (e) {
        pending = Promise.resolve(errorReply(e));
      }
      pending
        .catch((e: unknown) => errorReply(e))
        .then((reply) => {
          const seconds = (performance.now() - t1) / 1000;
          if (sendJson(res, state, reply.status, reply.body, { close: close || this.draining })) {
            recordRequest(endpoint, reply.status, reply.decision, seconds);
            logReply(log, endpoint, reply, seconds);
          } else if (state.aborted) {
            recordRequest(endpoint, 499, undefined, seconds);
          }
          finish();
        })
        .catch((e: unknown) => {
          // Only reachable if writing itself failed; never let it escape.
          log.error({ err: describeError(e) }, 'writing the response failed');
          finish();
        });
    });
  }
}

function errorStatus(code: ErrorCode): number {
  return ERRORS[code].status;
}

function tokenMatches(expected: Buffer, header: string): boolean {
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** One line per decision: denials at info, allows at debug. Never the object: Secrets travel in reviews. */
function logReply(log: Logger, endpoint: Endpoint, reply: EngineReply, seconds: number): void {
  const durationMs = Math.round(seconds * 1e4) / 10;
  const d: Decision | undefined = reply.decision;
  if (d === undefined) {
    const fields = { endpoint, status: reply.status, code: reply.error?.code, durationMs };
    // 4xx messages can quote the request (JSON.parse errors include a snippet): log the code only.
    if (reply.status >= 500) log.error(fields, reply.error?.message ?? 'error');
    else log.info(fields, 'request rejected');
    return;
  }
  const violated = d.evaluations
    .filter((e) => e.outcome === 'deny' || e.outcome === 'error' || e.outcome === 'timeout')
    .map((e) => e.binding);
  const fields = {
    uid: d.uid,
    kind: d.kind,
    namespace: d.namespace,
    name: d.name,
    operation: d.operation,
    endpoint,
    decision: d.response.allowed ? 'allowed' : 'denied',
    violated,
    durationMs,
  };
  if (d.response.allowed) log.debug(fields, 'allowed');
  else log.info(fields, 'denied');
}
