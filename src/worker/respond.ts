/**
 * Writing responses with uWS. Every write goes through `cork`: inside the route handler uWS corks for
 * us, but after an await (the engine's answer) an uncorked write would go out as one TLS record and one
 * syscall per header. Never touch a response after it was aborted or ended: uWS throws (or worse).
 */
import { encodeStatus, statusReason } from '../admission/encode.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import type { Uws } from '../uws.js';

const STATUS_LINES: Readonly<Record<number, string>> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

// uWS copies a Uint8Array's bytes as they are; a string it first converts to UTF-8, on every call.
const STATUS_BYTES = new Map(
  Object.entries(STATUS_LINES).map(([code, line]) => [Number(code), Buffer.from(line)]),
);
const CONTENT_TYPE = Buffer.from('Content-Type');
const APPLICATION_JSON = Buffer.from('application/json');

export function statusLine(code: number): string | Uint8Array {
  return STATUS_BYTES.get(code) ?? `${code} Status`;
}

export interface ResponseState {
  /** The client went away (onAborted fired): the response must not be touched again. */
  aborted: boolean;
  /** A response was written (or the socket closed by us). */
  done: boolean;
  /** HEAD requests get headers only. */
  readonly head: boolean;
}

export interface SendOptions {
  readonly headers?: readonly (readonly [string, string])[];
  /** Close the connection after this response (body limits, draining). */
  readonly close?: boolean;
}

/** Write a JSON response once; a no-op after abort or a previous answer. Returns whether it was written. */
export function sendJson(
  res: Uws.HttpResponse,
  state: ResponseState,
  status: number,
  body: string | Uint8Array,
  opts: SendOptions = {},
): boolean {
  if (state.aborted || state.done) return false;
  res.cork(() => {
    res.writeStatus(statusLine(status));
    res.writeHeader(CONTENT_TYPE, APPLICATION_JSON);
    for (const [k, v] of opts.headers ?? []) res.writeHeader(k, v);
    // HEAD: no body. (endWithoutBody is not usable: this uWS build then still counts the response as
    // pending and aborts the process when the handler returns.)
    res.end(state.head ? '' : body, opts.close === true);
  });
  state.done = true;
  return true;
}

/**
 * A metav1.Status answer for an error code. Never with Retry-After: client-go would retry a 5xx up to 10
 * times on the API server's request path (ADMISSION.md §7.36).
 */
export function sendError(
  res: Uws.HttpResponse,
  state: ResponseState,
  code: ErrorCode,
  message: string,
  opts: SendOptions = {},
): boolean {
  const status = ERRORS[code].status;
  return sendJson(res, state, status, encodeStatus(status, statusReason(status), message), opts);
}

/** Drop the connection without an answer (slow clients past their deadline). */
export function closeConnection(res: Uws.HttpResponse, state: ResponseState): void {
  if (state.aborted || state.done) return;
  state.done = true;
  res.close();
}
