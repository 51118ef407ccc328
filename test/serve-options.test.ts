/**
 * `tollgate serve` options beyond the webhook contract, against real processes: refusing the uWS JS
 * fallback, configuration errors, --insecure-http with --auth-token-file, and a certificate swapped
 * under a running server (SIGHUP) without a restart.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { podReview } from './helpers/reviews.js';
import { buildDist, makeCerts, runCli, startServer } from './helpers/server.js';
import { RawConnection } from './helpers/tls-client.js';

const POLICY = `
import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'no-latest',
  description: 'Test: images must not use :latest.',
  validate(ctx) {
    return ctx.containers().filter((c) => c.image.endsWith(':latest')).map((c) => c.image + ' uses :latest');
  },
});
`;

let dir: string;
let rules: string;
let config: string;

before(() => {
  buildDist();
  dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-'));
  rules = join(dir, 'rules');
  mkdirSync(join(rules, 'no-latest'), { recursive: true });
  writeFileSync(join(rules, 'no-latest', 'index.ts'), POLICY);
  config = join(dir, 'bindings.yaml');
  writeFileSync(
    config,
    'apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata:\n  name: no-latest\nspec:\n  policy: no-latest\n',
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** One worker, one thread, no metrics port, on the test's rules and binding. */
function oneWorker(): string[] {
  return [
    '--workers',
    '1',
    '--threads',
    '1',
    '--host',
    '127.0.0.1',
    '--metrics-port',
    '0',
    '--rules',
    rules,
    '--config',
    config,
    '--cache-dir',
    join(dir, 'cache'),
  ];
}

function post(
  port: number,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'Content-Length': String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('refusals at start', () => {
  it('refuses the uWebSockets.js JS fallback with TOLLGATE_ERR_UWS_NATIVE', () => {
    const r = runCli(['serve', '--insecure-http', '--rules', rules, '--port', '0'], {
      env: { UWS_USE_FALLBACK: '1' },
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /TOLLGATE_ERR_UWS_NATIVE/);
  });

  it('reports every configuration problem with TOLLGATE_ERR_CONFIG_INVALID and exit 2', () => {
    const r = runCli(['serve', '--port', '99999', '--workers', '0', '--rules', join(dir, 'missing')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /TOLLGATE_ERR_CONFIG_INVALID/);
    for (const s of ['--port', '--workers', '--tls-cert', '--rules'])
      assert.ok(r.stderr.includes(s), `${s} in ${r.stderr}`);
  });
});

describe('--insecure-http with --auth-token-file', () => {
  it('plain HTTP; webhook calls need the bearer token, probes do not; --drain-linger serves pooled connections', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 's3cret-token\n');
    const server = await startServer({
      // V8 options on node's command line reach workers and pool threads (which refuse them if passed
      // explicitly): the server must still start and serve.
      node: ['--max-semi-space-size=2', '--stack-trace-limit=20'],
      args: [
        '--insecure-http',
        ...oneWorker(),
        '--auth-token-file',
        tokenFile,
        '--no-watch',
        '--drain-linger',
        '2s',
      ],
    });
    try {
      const body = podReview('tok-1', 'nginx:latest');
      const json = { 'Content-Type': 'application/json' };
      const none = await post(server.port, '/validate', body, json);
      assert.equal(none.status, 401);
      assert.equal(JSON.parse(none.text).reason, 'Unauthorized');
      assert.equal(
        (await post(server.port, '/validate', body, { ...json, Authorization: 'Bearer wrong' })).status,
        401,
      );
      const ok = await post(server.port, '/validate', body, {
        ...json,
        Authorization: 'Bearer s3cret-token',
      });
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(ok.text).response.allowed, false);
      const c = await RawConnection.open({ port: server.port, plain: true });
      assert.equal((await c.request('GET', '/healthz')).status, 200);
      assert.equal((await c.request('GET', '/readyz')).status, 200);
      // Drain: the listen socket closes, but a request on a connection opened before still gets its
      // answer (with Connection: close) while the worker lingers.
      const stopped = server.stop();
      const deadline = Date.now() + 10_000;
      while (!server.logs().some((l) => String(l.msg).startsWith('draining')) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const late = await c.request('POST', '/validate', body, {
        ...json,
        Authorization: 'Bearer s3cret-token',
      });
      assert.equal(late.status, 200);
      assert.equal(late.headers.connection?.toLowerCase(), 'close');
      c.close();
      assert.equal(await stopped, 0, server.output());
    } finally {
      await server.stop();
    }
  });
});

describe('certificate reload', () => {
  it('SIGHUP after the certificate files change: new connections get the new certificate, no restart', async () => {
    const certDir = join(dir, 'certs');
    const first = makeCerts(certDir);
    const server = await startServer({
      args: [...oneWorker(), '--tls-cert', first.cert, '--tls-key', first.key, '--no-watch'],
    });
    try {
      const old = await RawConnection.open({ port: server.port, ca: first.ca, servername: 'webhook.ns.svc' });
      assert.equal((await old.request('GET', '/healthz')).status, 200);
      const r = runCli(['certs', '--out', certDir, '--service', 'webhook', '--namespace', 'ns', '--force']);
      assert.equal(r.status, 0, r.stderr);
      const second = makeCerts(certDir);
      assert.notEqual(second.caBundle, first.caBundle);
      server.child.kill('SIGHUP');
      const deadline = Date.now() + 20_000;
      while (!server.logs().some((l) => l.msg === 'certificate reloaded') && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok(
        server.logs().some((l) => l.msg === 'certificate reloaded'),
        server.output(),
      );
      const fresh = await RawConnection.open({
        port: server.port,
        ca: second.ca,
        servername: 'webhook.ns.svc',
      });
      assert.equal((await fresh.request('POST', '/validate', podReview('cert-1', 'nginx:1.0'))).status, 200);
      fresh.close();
      await assert.rejects(
        RawConnection.open({ port: server.port, ca: first.ca, servername: 'webhook.ns.svc' }),
        'the old CA no longer verifies',
      );
      // A connection made before the swap keeps working on the old certificate.
      assert.equal((await old.request('GET', '/healthz')).status, 200);
      old.close();
      assert.equal(
        server.logs().filter((l) => l.msg === 'worker serving').length,
        1,
        'the worker was not replaced',
      );
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
