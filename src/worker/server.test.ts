/**
 * The server's own failure answers, in process on a real uWS listener (plain HTTP): an engine that never
 * answers (a hung pool) gets the 504 backstop, a worker without policies answers 503, a drained server
 * accepts no new connections. The engine here is a stand-in on purpose: a pool that hangs past every
 * deadline cannot be produced on demand.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, it } from 'node:test';
import { loadServeConfig } from '../config/index.js';
import type { EngineReply } from '../engine/engine.js';
import { createLogger } from '../log/index.js';
import { loadUws } from '../uws.js';
import type { WorkerEngine } from './engine.js';
import { WebhookServer } from './server.js';

const hung: WorkerEngine = {
  bindingCount: 0,
  countsEvaluations: false,
  flushMetrics: async () => {},
  evaluate: () => new Promise<EngineReply>(() => {}),
  reload: async () => {},
  close: async () => {},
};

let engine: WorkerEngine | undefined;
let server: WebhookServer;
let port: number;

before(async () => {
  const { config } = loadServeConfig({
    argv: [
      '--insecure-http',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--rules',
      '.',
      '--timeout-margin',
      '200ms',
    ],
    env: {},
  });
  server = new WebhookServer({ uws: loadUws(), config, log: createLogger('silent'), engine: () => engine });
  port = await server.listen();
});

after(() => server.stopListening());

function send(
  method: string,
  path: string,
  body = '',
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Connection: 'close',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

it('no policies loaded yet: webhook calls and /readyz answer 503 Status', async () => {
  engine = undefined;
  const r = await send('POST', '/validate', '{}');
  assert.equal(r.status, 503);
  assert.equal(JSON.parse(r.text).reason, 'ServiceUnavailable');
  assert.equal(r.headers['retry-after'], undefined);
  assert.equal((await send('GET', '/readyz')).status, 503);
  assert.equal((await send('GET', '/healthz')).status, 200);
});

it('an engine that never answers: 504 Status shortly before ?timeout, without Retry-After', async () => {
  engine = hung;
  const t0 = performance.now();
  const r = await send('POST', '/validate?timeout=1s', '{}');
  const ms = performance.now() - t0;
  assert.equal(r.status, 504);
  const s = JSON.parse(r.text) as { kind: string; code: number; reason: string };
  assert.deepEqual([s.kind, s.code, s.reason], ['Status', 504, 'Timeout']);
  assert.equal(r.headers['retry-after'], undefined);
  assert.ok(ms >= 850 && ms < 1000, `answered after ${ms.toFixed(0)} ms`);
});

it('after stopListening no new connection is accepted', async () => {
  server.stopListening();
  assert.equal(server.isDraining, true);
  await assert.rejects(send('POST', '/validate', '{}'), /ECONNREFUSED/);
});
