/**
 * Reading a request body from uWS with a hard limit. uWS hands out each chunk as an ArrayBuffer that it
 * neuters (reuses) when the callback returns, so every chunk is copied before returning. The API server
 * always sends Content-Length, so the buffer is allocated once at the announced size; a body without it
 * grows by doubling, still capped at the limit. Only `body.subarray(0, received)` is handed on: the
 * uninitialised rest of an allocUnsafe buffer never leaves this file.
 */
import type { Uws } from '../uws.js';

export type BodyResult =
  | { readonly ok: true; readonly body: Uint8Array }
  | { readonly ok: false; readonly reason: 'too-large' };

/**
 * Start reading. `onDone` is called exactly once, unless the request is aborted first: with the body, or
 * with `too-large` as soon as the received bytes pass `limit` (the rest is not buffered). If `onDone`
 * itself throws, `onError` gets the exception (nothing may escape a uWS callback).
 */
export function readBody(
  res: Uws.HttpResponse,
  announced: number | undefined,
  limit: number,
  onDone: (r: BodyResult) => void,
  onError: (e: unknown) => void,
): void {
  // Small bodies come from Node's shared Buffer pool (no ArrayBuffer of their own); only the bytes written
  // below are ever exposed.
  let buf: Uint8Array = Buffer.allocUnsafe(announced !== undefined ? Math.min(announced, limit) : 16 * 1024);
  let received = 0;
  let finished = false;
  res.onData((chunk, isLast) => {
    if (finished) return;
    try {
      take(chunk, isLast);
    } catch (e) {
      // An exception escaping a uWS callback terminates the process: fail this request instead.
      finished = true;
      onError(e);
    }
  });
  function take(chunk: ArrayBuffer, isLast: boolean): void {
    const n = chunk.byteLength;
    if (received + n > limit) {
      finished = true;
      onDone({ ok: false, reason: 'too-large' });
      return;
    }
    if (received + n > buf.length) {
      const grown = new Uint8Array(Math.min(limit, Math.max(buf.length * 2, received + n)));
      grown.set(buf.subarray(0, received));
      buf = grown;
    }
    buf.set(new Uint8Array(chunk), received);
    received += n;
    if (isLast) {
      finished = true;
      onDone({ ok: true, body: buf.subarray(0, received) });
    }
  }
}
