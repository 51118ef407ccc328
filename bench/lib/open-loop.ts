// A constant-rate, open-loop HTTP/1.1 load generator over TLS keep-alive connections, like wrk2.
//
// Requests are scheduled on a fixed timetable (request k at t0 + k/rate) whatever the server does, and each
// latency is measured from the request's *scheduled* time, not from when it could be sent. A server that
// stalls therefore shows its stall in every request that should have gone out meanwhile, instead of the
// generator politely waiting (coordinated omission). Like the kube-apiserver, a connection carries one
// request at a time (no pipelining); a request whose turn comes while all connections are busy waits in a
// queue, and that wait counts.
//
// Run as its own process (pinned to another core than the server; the harness runs it as .build/open-loop.mjs):
//   node --import tsx bench/lib/open-loop.ts --host 127.0.0.1 --port N --path /validate --body F
//     --rate 5000 --connections 25 --duration 10 --warmup 2 [--ca cert.pem]
// It prints one JSON line (OpenLoopResult) on stdout.
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';

export interface OpenLoopResult {
  readonly rate: number;
  readonly connections: number;
  readonly durationS: number;
  /** Requests scheduled in the measured window, and how many of them completed. */
  readonly scheduled: number;
  readonly completed: number;
  readonly errors: number;
  readonly non2xx: number;
  /** Scheduled but never sent before the end (the server could not keep up). */
  readonly unsent: number;
  readonly achievedRps: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** How late the generator itself noticed a request was due (its own timer jitter), p99 in ms. */
  readonly generatorLagP99Ms: number;
  /** Which generator measured: this one, or bench/loadgen (same options, same output). */
  readonly generator: 'node' | 'go';
}

interface Options {
  host: string;
  port: number;
  path: string;
  body: Buffer;
  rate: number;
  connections: number;
  durationS: number;
  warmupS: number;
  ca?: Buffer;
  timeoutS: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Incremental parser for one HTTP/1.1 response at a time (Content-Length or chunked bodies). */
class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Feed bytes; returns the status code once a full response is in, and keeps any extra bytes. */
  push(data: Buffer): number | undefined {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const end = this.buf.indexOf(CRLFCRLF);
    if (end < 0) return undefined;
    const head = this.buf.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    let total: number;
    if (cl) {
      total = end + 4 + Number(cl[1]);
      if (this.buf.length < total) return undefined;
    } else if (lower.includes('\r\ntransfer-encoding: chunked')) {
      const term = this.buf.indexOf('0\r\n\r\n', end + 4);
      if (term < 0) return undefined;
      total = term + 5;
    } else {
      total = end + 4;
    }
    this.buf = this.buf.subarray(total);
    return status;
  }
  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}

function histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

export function runOpenLoop(o: Options): Promise<OpenLoopResult> {
  const request = Buffer.concat([
    Buffer.from(
      `POST ${o.path}?timeout=10s HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, */*\r\nUser-Agent: tollgate-bench-open-loop\r\nContent-Length: ${o.body.length}\r\n\r\n`,
    ),
    o.body,
  ]);
  const latency = histogram();
  const lag = histogram();
  const intervalNs = 1e9 / o.rate;
  const total = Math.round(o.rate * (o.warmupS + o.durationS));
  const warmupCount = Math.round(o.rate * o.warmupS);
  let t0 = 0n;
  let nextIndex = 0;
  // Requests due but not yet sent, oldest first (`head` instead of shift(): the queue can grow large).
  const queue: { index: number; due: bigint }[] = [];
  let head = 0;
  let completed = 0;
  let errors = 0;
  let non2xx = 0;
  let measuredStart = 0n;
  let measuredEnd = 0n;
  let stopped = false;

  interface Conn {
    socket: TLSSocket;
    reader: ResponseReader;
    inflight: { index: number; due: bigint } | undefined;
    ready: boolean;
  }
  const conns: Conn[] = [];
  const idle: Conn[] = [];

  const record = (req: { index: number; due: bigint }, status: number | undefined) => {
    if (req.index < warmupCount) return;
    const now = process.hrtime.bigint();
    measuredEnd = now;
    if (status === undefined) errors++;
    else {
      completed++;
      if (status < 200 || status > 299) non2xx++;
      latency.recordValue(Math.max(1, Number((now - req.due) / 1000n)));
    }
  };

  const dispatch = () => {
    while (queue.length > head && idle.length > 0) {
      const c = idle.pop()!;
      const req = queue[head++]!;
      if (head > 4096 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      c.inflight = req;
      c.socket.write(request);
    }
  };

  let reconnects = 0;
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c: Conn = {
        socket: undefined as unknown as TLSSocket,
        reader: new ResponseReader(),
        inflight: undefined,
        ready: false,
      };
      c.socket = connect({
        host: o.host,
        port: o.port,
        servername: 'localhost',
        ALPNProtocols: ['http/1.1'],
        ...(o.ca ? { ca: o.ca } : { rejectUnauthorized: false }),
      });
      c.socket.setNoDelay(true);
      c.socket.once('secureConnect', () => {
        c.ready = true;
        conns.push(c);
        idle.push(c);
        resolve();
        dispatch();
      });
      c.socket.on('data', (d: Buffer) => {
        const status = c.reader.push(d);
        if (status === undefined || c.inflight === undefined) return;
        record(c.inflight, status);
        c.inflight = undefined;
        if (!stopped) {
          idle.push(c);
          dispatch();
        }
      });
      const lost = (err?: Error) => {
        const i = conns.indexOf(c);
        if (i >= 0) conns.splice(i, 1);
        const j = idle.indexOf(c);
        if (j >= 0) idle.splice(j, 1);
        if (!c.ready) {
          reject(err ?? new Error('connection closed during TLS handshake'));
          return;
        }
        c.ready = false;
        if (c.inflight) record(c.inflight, undefined);
        c.inflight = undefined;
        // Keep the connection count: reconnect, within a bound so a dead server ends the run.
        if (!stopped && reconnects++ < 10_000) open().catch(() => errors++);
      };
      c.socket.once('error', (e) => lost(e));
      c.socket.once('close', () => lost());
    });

  return new Promise((resolve, reject) => {
    Promise.all(Array.from({ length: o.connections }, open)).then(() => {
      t0 = process.hrtime.bigint() + 1_000_000n;
      measuredStart = t0 + BigInt(Math.round(warmupCount * intervalNs));
      const tick = () => {
        const now = process.hrtime.bigint();
        while (nextIndex < total) {
          const due = t0 + BigInt(Math.round(nextIndex * intervalNs));
          if (due > now) break;
          if (nextIndex >= warmupCount) lag.recordValue(Math.max(1, Number((now - due) / 1000n)));
          queue.push({ index: nextIndex, due });
          nextIndex++;
        }
        dispatch();
        if (nextIndex >= total) {
          finish();
          return;
        }
        const nextDue = t0 + BigInt(Math.round(nextIndex * intervalNs));
        const waitMs = Number((nextDue - process.hrtime.bigint()) / 1_000_000n);
        // Timers are only millisecond-precise: spin through setImmediate for the last 2 ms.
        if (waitMs > 2) setTimeout(tick, waitMs - 2);
        else setImmediate(tick);
      };
      tick();
    }, reject);

    const finish = () => {
      // Let in-flight and queued requests complete, up to the timeout; what is still queued is unsent.
      const deadline = Date.now() + o.timeoutS * 1000;
      const poll = () => {
        const busy = conns.some((c) => c.inflight !== undefined);
        if ((busy || (queue.length > head && conns.length > 0)) && Date.now() < deadline) {
          setTimeout(poll, 5);
          return;
        }
        stopped = true;
        for (const c of conns) {
          if (c.inflight) record(c.inflight, undefined);
          c.inflight = undefined;
        }
        const unsent = queue.slice(head).filter((q) => q.index >= warmupCount).length;
        for (const c of [...conns]) c.socket.destroy();
        const windowS = Number(measuredEnd > measuredStart ? measuredEnd - measuredStart : 1n) / 1e9;
        const ms = (us: number) => Math.round(us) / 1000;
        resolve({
          rate: o.rate,
          connections: o.connections,
          durationS: o.durationS,
          scheduled: total - warmupCount,
          completed,
          errors,
          non2xx,
          unsent,
          achievedRps: Math.round(completed / Math.max(windowS, o.durationS)),
          latencyMs: {
            p50: ms(latency.getValueAtPercentile(50)),
            p90: ms(latency.getValueAtPercentile(90)),
            p99: ms(latency.getValueAtPercentile(99)),
            p999: ms(latency.getValueAtPercentile(99.9)),
            max: ms(latency.maxValue),
            mean: ms(latency.mean),
          },
          generatorLagP99Ms: ms(lag.getValueAtPercentile(99)),
          generator: 'node',
        });
      };
      poll();
    };
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      path: { type: 'string', default: '/validate' },
      body: { type: 'string' },
      rate: { type: 'string' },
      connections: { type: 'string', default: '25' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '5' },
      ca: { type: 'string' },
    },
  });
  if (values.port === undefined || values.body === undefined || values.rate === undefined) {
    throw new Error('open-loop: --port, --body and --rate are required');
  }
  const result = await runOpenLoop({
    host: values.host,
    port: Number(values.port),
    path: values.path,
    body: readFileSync(values.body),
    rate: Number(values.rate),
    connections: Number(values.connections),
    durationS: Number(values.duration),
    warmupS: Number(values.warmup),
    timeoutS: Number(values.timeout),
    ...(values.ca !== undefined ? { ca: readFileSync(values.ca) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (/open-loop\.(ts|mjs)$/.test(process.argv[1] ?? '')) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`open-loop: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
