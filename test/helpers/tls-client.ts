/**
 * A minimal HTTP/1.1 client over one TLS (or plain) connection, for tests that must control the wire:
 * keep-alive reuse on a known socket, when the server closes, slow writers, aborted requests. Responses
 * are parsed by Content-Length (uWS always sends it for whole responses).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface RawResponse {
  readonly status: number;
  /** Lower-cased header names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly text: string;
}

export interface ConnectOptions extends ConnectionOptions {
  readonly port: number;
  /** Plain TCP instead of TLS (for --insecure-http). */
  readonly plain?: boolean;
}

export class RawConnection {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  /** Set when the server closed its side; `closedAt` is performance.now() at that moment. */
  ended = false;
  closedAt: number | undefined;
  error: Error | undefined;

  private constructor(readonly socket: Socket | TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.wake();
    });
    const onEnd = (): void => {
      if (!this.ended) {
        this.ended = true;
        this.closedAt = performance.now();
      }
      this.wake();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', (e) => {
      this.error = e;
      onEnd();
    });
  }

  static open(opts: ConnectOptions): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const { port, plain, ...tlsOpts } = opts;
      const socket = plain
        ? netConnect({ host: '127.0.0.1', port }, () => resolve(new RawConnection(socket)))
        : tlsConnect({ host: '127.0.0.1', port, ...tlsOpts }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get tls(): TLSSocket {
    return this.socket as TLSSocket;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private waitForData(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('timed out waiting for the server')),
        Math.max(0, deadline - Date.now()),
      );
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** Read exactly one response; rejects if the server closes first or nothing arrives in time. */
  async readResponse(timeoutMs = 15_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const head = this.buf.indexOf('\r\n\r\n');
      if (head >= 0) {
        const lines = this.buf.subarray(0, head).toString('latin1').split('\r\n');
        const status = Number((lines[0] ?? '').split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          const k = l.slice(0, i).trim().toLowerCase();
          const v = l.slice(i + 1).trim();
          headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
        }
        const len = Number(headers['content-length'] ?? '0');
        if (this.buf.length >= head + 4 + len) {
          const body = Buffer.from(this.buf.subarray(head + 4, head + 4 + len));
          this.buf = this.buf.subarray(head + 4 + len);
          return { status, headers, body, text: body.toString('utf8') };
        }
      }
      if (this.ended)
        throw new Error(`connection closed before a full response (${this.buf.length} bytes buffered)`);
      await this.waitForData(deadline);
    }
  }

  /** Send one request with Content-Length and read its response. */
  async request(
    method: string,
    path: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = { 'Content-Type': 'application/json' },
    timeoutMs?: number,
  ): Promise<RawResponse> {
    const b =
      body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
    const lines = [
      `${method} ${path} HTTP/1.1`,
      'Host: webhook.ns.svc',
      'User-Agent: kube-apiserver-admission',
    ];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (b !== undefined) lines.push(`Content-Length: ${b.length}`);
    const headText = `${lines.join('\r\n')}\r\n\r\n`;
    await this.write(b === undefined ? headText : Buffer.concat([Buffer.from(headText), b]));
    return this.readResponse(timeoutMs);
  }

  /** Resolves when the server has closed the connection, or rejects after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.waitForData(deadline);
  }

  close(): void {
    this.socket.destroy();
  }
}
