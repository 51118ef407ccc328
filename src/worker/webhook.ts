/**
 * One webhook call (POST /validate, /mutate, /) on uWS: checks that need no body (token, media type,
 * announced length), the body read under its limit, the deadline, the engine, and the answer.
 */
import { timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ServeConfig } from '../config/index.js';
import { parseGoDuration } from '../config/index.js';
import { type Endpoint, type EngineReply, errorReply } from '../engine/reply.js';
import type { Decision } from '../engine/types.js';
import { describeError, ERRORS, type ErrorCode } from '../errors.js';
import type { Logger } from '../log/index.js';
import { recordDuration, recordRequest } from '../metrics/index.js';
import type { Uws } from '../uws.js';
import { readBody } from './body.js';
import type { WorkerEngine } from './engine.js';
import { closeConnection, type ResponseState, sendError, sendJson } from './respond.js';

/** What a webhook call needs from its server. */
export interface WebhookContext {
  readonly config: ServeConfig;
  readonly log: Logger;
  /** `Bearer <token>` when --auth-token-file is set. */
  readonly authToken: Buffer | undefined;
  engine(): WorkerEngine | undefined;
  /** Draining: answer with Connection: close. */
  draining(): boolean;
  /** Count a request in flight from its headers to its answer (or abort). */
  begin(): void;
  end(): void;
}

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

export function handleWebhook(
  ctx: WebhookContext,
  res: Uws.HttpResponse,
  req: Uws.HttpRequest,
  state: ResponseState,
  endpoint: Endpoint,
): void {
  const { config, log } = ctx;
  const t0 = performance.now();
  // The HttpRequest lives on uWS's stack: read every header and the query now, before any callback.
  const contentType = req.getHeader('content-type');
  const contentEncoding = req.getHeader('content-encoding');
  const contentLengthHeader = req.getHeader('content-length');
  const authorization = ctx.authToken !== undefined ? req.getHeader('authorization') : '';
  const timeoutMs = requestTimeoutMs(req.getQuery('timeout') ?? '', config);
  const close = ctx.draining();

  const reject = (code: ErrorCode, message: string, closeConn = close): void => {
    if (sendError(res, state, code, message, { close: closeConn })) {
      recordRequest(endpoint, errorStatus(code), undefined, (performance.now() - t0) / 1000);
      log.info({ endpoint, code }, message);
    }
  };

  // Requests that cannot be served are refused before the body is read; the connection is closed so
  // the unread body is not parsed as the next request.
  if (ctx.authToken !== undefined && !tokenMatches(ctx.authToken, authorization)) {
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
  const engine = ctx.engine();
  if (engine === undefined) {
    reject('TOLLGATE_ERR_UNAVAILABLE', 'policies are not loaded yet');
    return;
  }

  // From here on the answer is asynchronous: uWS requires onAborted before the handler returns.
  ctx.begin();
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    ctx.end();
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

  readBody(
    res,
    announced,
    config.bodyLimitBytes,
    (r) => {
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
      // One reaction per request (no .catch/.then chain): the engine never rejects, but a rejection
      // still gets an answer.
      const respond = (reply: EngineReply): void => {
        try {
          const seconds = (performance.now() - t1) / 1000;
          // An engine that counts its evaluations (the pool) counted this one, answered or not.
          const counted = engine.countsEvaluations;
          const body = reply.bytes ?? reply.body;
          if (sendJson(res, state, reply.status, body, { close: close || ctx.draining() })) {
            if (counted) recordDuration(endpoint, seconds);
            else recordRequest(endpoint, reply.status, reply.decision, seconds);
            logReply(log, endpoint, reply, seconds);
          } else if (state.aborted && !counted) {
            recordRequest(endpoint, 499, undefined, seconds);
          }
        } catch (e) {
          // Only reachable if writing itself failed; never let it escape.
          log.error({ err: describeError(e) }, 'writing the response failed');
        }
        finish();
      };
      pending.then(respond, (e: unknown) => respond(errorReply(e)));
    },
    (e) => {
      log.error({ endpoint, err: describeError(e) }, 'request handling failed');
      try {
        sendError(res, state, 'TOLLGATE_ERR_INTERNAL', 'internal error', { close: true });
      } catch {
        closeConnection(res, state);
      }
      finish();
    },
  );
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
  // Allowed without a decision: the engine leaves it out unless the log level is debug.
  if (d === undefined && reply.status === 200) return;
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
