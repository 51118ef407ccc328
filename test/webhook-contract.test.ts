/**
 * The kube-apiserver ⇄ webhook contract (../shared ADMISSION.md §7, items numbered as there) against the
 * real thing: `node bin/tollgate.js serve --workers 2` on a random port, certificates from
 * `tollgate certs`, the repo's policies plus three test policies, over real TLS with the dev CA.
 * The slow checks (idle timeouts, slow-loris, deadlines) run concurrently to keep the file under a minute.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { configMap, goJson, pod, podReview, review } from './helpers/reviews.js';
import {
  buildDist,
  type Certs,
  freePort,
  makeCerts,
  REPO,
  type ServerProcess,
  startServer,
} from './helpers/server.js';
import { RawConnection, type RawResponse } from './helpers/tls-client.js';

const ALLOWED_IMAGE = '192.168.64.1/nginx:1.25';
const DENIED_IMAGE = 'nginx:latest';
const MUTATED_LABEL = 'tollgate.dev/mutated';

const TEST_POLICIES: Record<string, string> = {
  'test-add-label': `
import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'test-add-label',
  description: 'Test: adds the label tollgate.dev/mutated=yes to Pods.',
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE', 'DELETE'] },
  autogen: false,
  mutate(ctx) {
    const o = ctx.object;
    if (o === null || o.metadata?.labels?.['${MUTATED_LABEL}'] === 'yes') return undefined;
    return { ...o, metadata: { ...o.metadata, labels: { ...(o.metadata?.labels ?? {}), '${MUTATED_LABEL}': 'yes' } } };
  },
});
`,
  'test-slow': `
import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'test-slow',
  description: 'Test: waits for the number of ms in the label "sleep" before allowing a ConfigMap.',
  match: { kinds: [{ apiGroups: [''], kinds: ['ConfigMap'] }], operations: ['CREATE'] },
  async validate(ctx) {
    const ms = Number(ctx.object?.metadata?.labels?.sleep ?? '0');
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    return [];
  },
});
`,
  'test-warn': `
import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'test-warn',
  description: 'Test: unruly warnings for ConfigMaps labelled warn=yes.',
  match: { kinds: [{ apiGroups: [''], kinds: ['ConfigMap'] }], operations: ['CREATE'] },
  validate(ctx) {
    if (ctx.object?.metadata?.labels?.warn !== 'yes') return [];
    const warnings = ['short warning', 'short warning', 'line one\\nline two\\u0007', 'x'.repeat(1000)];
    for (let i = 0; i < 40; i++) warnings.push(i + ' ' + 'w'.repeat(200));
    return { violations: [], warnings };
  },
});
`,
};

const TEST_BINDINGS = ['test-add-label', 'test-slow', 'test-warn']
  .map(
    (p) =>
      `apiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata:\n  name: ${p}\nspec:\n  policy: ${p}\n`,
  )
  .join('---\n');

let dir: string;
let certs: Certs;
let server: ServerProcess;
let agent: Agent;
let metricsPort: number;

interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  json(): Record<string, unknown>;
}

/** One request over node:https (keep-alive agent, SNI webhook.ns.svc, the dev CA). */
function call(
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = { 'Content-Type': 'application/json' },
  method = 'POST',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        method,
        agent,
        servername: 'webhook.ns.svc',
        ca: certs.ca,
        headers: {
          ...headers,
          ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          // §7.36: no status of ours may carry Retry-After (client-go would retry the webhook call).
          assert.equal(res.headers['retry-after'], undefined, 'no Retry-After');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A ConfigMap CREATE review; the test policies read its labels (sleep=<ms>, warn=yes). */
function configMapReview(uid: string, labels: Record<string, string>): string {
  return goJson(
    review({
      uid,
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      name: 'c',
      namespace: 'default',
      object: configMap('c', labels),
    }),
  );
}

function response(r: Reply | RawResponse): Record<string, unknown> {
  const doc = JSON.parse(r.text) as { response: Record<string, unknown> };
  return doc.response;
}

function assertStatusBody(r: Reply | RawResponse, code: number): Record<string, unknown> {
  assert.equal(r.status, code, r.text);
  const s = JSON.parse(r.text) as Record<string, unknown>;
  assert.equal(s.kind, 'Status');
  assert.equal(s.apiVersion, 'v1');
  assert.equal(s.status, 'Failure');
  assert.equal(s.code, code);
  assert.equal(typeof s.message, 'string');
  return s;
}

function tlsOpts(
  extra: Record<string, unknown> = {},
): { ca: Buffer; servername: string } & Record<string, unknown> {
  return { ca: certs.ca, servername: 'webhook.ns.svc', ...extra };
}

function workerPids(): number[] {
  return server
    .logs()
    .filter((l) => l.msg === 'worker serving')
    .map((l) => l.pid as number);
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function crashes(): Record<string, unknown>[] {
  return server
    .logs()
    .filter(
      (l) =>
        l.msg === 'worker exited unexpectedly: respawning' ||
        (typeof l.signal === 'string' && l.signal !== ''),
    );
}

before(async () => {
  buildDist();
  dir = mkdtempSync(join(tmpdir(), 'tollgate-contract-'));
  certs = makeCerts(join(dir, 'certs'));
  const rules = join(dir, 'rules');
  cpSync(join(REPO, 'rules'), rules, { recursive: true });
  for (const [name, code] of Object.entries(TEST_POLICIES)) {
    mkdirSync(join(rules, name), { recursive: true });
    writeFileSync(join(rules, name, 'index.ts'), code);
  }
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'tests.yaml'), TEST_BINDINGS);
  metricsPort = await freePort();
  server = await startServer({
    args: [
      '--workers',
      '2',
      '--threads',
      '1',
      '--host',
      '127.0.0.1',
      '--metrics-port',
      String(metricsPort),
      '--tls-cert',
      certs.cert,
      '--tls-key',
      certs.key,
      '--rules',
      rules,
      '--config',
      join(REPO, 'examples', 'seed', 'binding.yaml'),
      '--config',
      join(dir, 'config'),
      '--cache-dir',
      join(dir, 'cache'),
      '--log-level',
      'info',
      '--no-watch',
      '--grace-period',
      '10s',
    ],
  });
  agent = new Agent({ keepAlive: true, maxSockets: 16 });
});

after(async () => {
  agent?.destroy();
  if (server !== undefined) {
    const code = await server.stop();
    assert.equal(code, 0, `server exit code (output:\n${server.output().slice(-3000)})`);
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('certificates and TLS (§2, §7.35)', () => {
  it('tollgate certs: SANs, key modes, caBundle, idempotent', () => {
    const cert = new X509Certificate(readFileSync(certs.cert));
    for (const san of [
      'DNS:webhook.ns.svc',
      'DNS:webhook.ns.svc.cluster.local',
      'DNS:localhost',
      'IP Address:127.0.0.1',
    ]) {
      assert.ok(cert.subjectAltName?.split(', ').includes(san), `SAN ${san} in ${cert.subjectAltName}`);
    }
    assert.equal(
      Buffer.from(certs.caBundle, 'base64').toString(),
      readFileSync(join(certs.dir, 'ca.crt'), 'utf8'),
    );
    for (const k of ['ca.key', 'tls.key']) {
      const mode = statSync(join(certs.dir, k)).mode & 0o777;
      assert.equal(mode, 0o600, k);
    }
    const again = makeCerts(certs.dir);
    assert.equal(again.caBundle, certs.caBundle, 'the CA is reused');
    assert.equal(readFileSync(certs.cert, 'utf8'), cert.toString(), 'a current serving certificate is kept');
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`${version} with SNI webhook.ns.svc and ALPN ["http/1.1"]`, async () => {
      const c = await RawConnection.open({
        port: server.port,
        ...tlsOpts({ minVersion: version, maxVersion: version, ALPNProtocols: ['http/1.1'] }),
      });
      try {
        assert.equal(c.tls.getProtocol(), version);
        assert.ok(c.tls.alpnProtocol === false || c.tls.alpnProtocol === 'http/1.1');
        assert.ok(c.tls.getPeerX509Certificate()?.subjectAltName?.includes('DNS:webhook.ns.svc'));
        const r = await c.request('POST', '/validate?timeout=10s', podReview('tls-1', ALLOWED_IMAGE));
        assert.equal(r.status, 200);
      } finally {
        c.close();
      }
    });
  }

  it('ALPN ["h2","http/1.1"]: no h2, the handshake succeeds and HTTP/1.1 works', async () => {
    const c = await RawConnection.open({
      port: server.port,
      ...tlsOpts({ ALPNProtocols: ['h2', 'http/1.1'] }),
    });
    try {
      assert.notEqual(c.tls.alpnProtocol, 'h2');
      assert.equal((await c.request('GET', '/healthz')).status, 200);
    } finally {
      c.close();
    }
  });

  it('TLS 1.1 is refused', async () => {
    await assert.rejects(
      RawConnection.open({
        port: server.port,
        ...tlsOpts({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      }),
    );
  });
});

describe('happy path and shape (§7.1–17, 37)', () => {
  it('1. v1 CREATE Pod allowed: 200, application/json, exact body', async () => {
    const r = await call('/validate?timeout=10s', podReview('1-uid', ALLOWED_IMAGE));
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.json(), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '1-uid', allowed: true },
    });
  });

  it('2. v1beta1 is answered in v1beta1; POST / is /validate', async () => {
    const r = await call(
      '/?timeout=10s',
      podReview('2-uid', ALLOWED_IMAGE, { apiVersion: 'admission.k8s.io/v1beta1' }),
    );
    assert.deepEqual(r.json(), {
      apiVersion: 'admission.k8s.io/v1beta1',
      kind: 'AdmissionReview',
      response: { uid: '2-uid', allowed: true },
    });
  });

  it('3. a non-UUID uid "x-🙂-1" is echoed byte for byte', async () => {
    const r = await call('/validate?timeout=10s', podReview('x-🙂-1', ALLOWED_IMAGE));
    assert.ok(Buffer.from(r.text).includes(Buffer.from('"uid":"x-🙂-1"')), r.text);
  });

  it('4, 5. deny: allowed false, status 403 Forbidden with the message; keys lower camelCase', async () => {
    const r = await call('/validate?timeout=10s', podReview('5-uid', DENIED_IMAGE));
    const res = response(r);
    for (const k of Object.keys(res))
      assert.ok(
        ['uid', 'allowed', 'status', 'patchType', 'patch', 'warnings', 'auditAnnotations'].includes(k),
        k,
      );
    assert.equal(res.allowed, false);
    const status = res.status as { code: number; reason: string; message: string };
    assert.equal(status.code, 403);
    assert.equal(status.reason, 'Forbidden');
    assert.match(status.message, /nginx:latest/);
  });

  it('6. /validate never returns a patch, even when a mutating binding matches', async () => {
    const res = response(await call('/validate?timeout=10s', podReview('6-uid', ALLOWED_IMAGE)));
    assert.ok(!('patch' in res) && !('patchType' in res));
  });

  it('7. mutate no-op omits patch and patchType', async () => {
    const body = goJson(
      review({
        uid: '7-uid',
        name: 'p',
        namespace: 'default',
        object: pod('p', ALLOWED_IMAGE, { [MUTATED_LABEL]: 'yes' }),
      }),
    );
    const res = response(await call('/mutate?timeout=10s', body));
    assert.equal(res.allowed, true);
    assert.ok(!('patch' in res) && !('patchType' in res), JSON.stringify(res));
  });

  it('8, 9. mutate change: padded base64 JSONPatch that applies to request.object (labels absent, "/" escaped)', async () => {
    const object = pod('p', ALLOWED_IMAGE);
    const res = response(
      await call(
        '/mutate?timeout=10s',
        goJson(review({ uid: '8-uid', name: 'p', namespace: 'default', object })),
      ),
    );
    assert.equal(res.patchType, 'JSONPatch');
    const b64 = res.patch as string;
    assert.match(b64, /^[A-Za-z0-9+/]*={0,2}$/);
    assert.equal(b64.length % 4, 0);
    const ops = JSON.parse(Buffer.from(b64, 'base64').toString()) as fastJsonPatch.Operation[];
    assert.ok(Array.isArray(ops));
    const patched = fastJsonPatch.applyPatch(structuredClone(object), ops, true, false).newDocument as {
      metadata: { labels: Record<string, string> };
    };
    assert.equal(patched.metadata.labels[MUTATED_LABEL], 'yes');
    const paths = ops.map((o) => o.path);
    assert.ok(
      paths.includes('/metadata/labels') || paths.includes('/metadata/labels/tollgate.dev~1mutated'),
      paths.join(),
    );
  });

  it('10. DELETE (object null, oldObject set) is handled from oldObject and never patched', async () => {
    const body = goJson(
      review({
        uid: '10-uid',
        operation: 'DELETE',
        name: 'p',
        namespace: 'default',
        oldObject: pod('p', ALLOWED_IMAGE),
      }),
    );
    for (const path of ['/mutate?timeout=10s', '/validate?timeout=10s']) {
      const res = response(await call(path, body));
      assert.equal(res.allowed, true);
      assert.ok(!('patch' in res));
    }
  });

  it('11. CONNECT pods/attach with PodAttachOptions (no metadata) does not crash', async () => {
    const body = goJson(
      review({
        uid: '11-uid',
        operation: 'CONNECT',
        kind: { group: '', version: 'v1', kind: 'PodAttachOptions' },
        subResource: 'attach',
        name: 'p',
        namespace: 'default',
        object: { kind: 'PodAttachOptions', apiVersion: 'v1', stdin: true, container: 'app' },
      }),
    );
    for (const path of ['/mutate?timeout=10s', '/validate?timeout=10s'])
      assert.equal(response(await call(path, body)).allowed, true);
  });

  it('12. UPDATE pods/status and deployments/scale', async () => {
    const status = goJson(
      review({
        uid: '12a',
        operation: 'UPDATE',
        subResource: 'status',
        name: 'p',
        namespace: 'default',
        object: pod('p', ALLOWED_IMAGE),
        oldObject: pod('p', ALLOWED_IMAGE),
      }),
    );
    assert.equal(response(await call('/validate?timeout=10s', status)).uid, '12a');
    const scale = {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: 'd', namespace: 'default' },
      spec: { replicas: 3 },
    };
    const scaleReview = goJson(
      review({
        uid: '12b',
        operation: 'UPDATE',
        kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        subResource: 'scale',
        name: 'd',
        namespace: 'default',
        object: scale,
        oldObject: scale,
      }),
    );
    const res = response(await call('/mutate?timeout=10s', scaleReview));
    assert.equal(res.uid, '12b');
    assert.equal(res.allowed, true);
  });

  it('13. generateName (no name) and a cluster-scoped object (no namespace)', async () => {
    const generated = pod('', DENIED_IMAGE);
    (generated.metadata as Record<string, unknown>).name = undefined;
    (generated.metadata as Record<string, unknown>).generateName = 'p-';
    const res = response(
      await call(
        '/validate?timeout=10s',
        goJson(review({ uid: '13a', namespace: 'default', object: generated })),
      ),
    );
    assert.equal(res.allowed, false);
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } };
    const clusterScoped = goJson(
      review({
        uid: '13b',
        kind: { group: '', version: 'v1', kind: 'Namespace' },
        resource: { group: '', version: 'v1', resource: 'namespaces' },
        name: 'team-a',
        object: ns,
      }),
    );
    assert.equal(response(await call('/validate?timeout=10s', clusterScoped)).allowed, true);
  });

  it('14. dryRun gives the same decision', async () => {
    const wet = response(await call('/validate?timeout=10s', podReview('14-uid', DENIED_IMAGE)));
    const dry = response(
      await call('/validate?timeout=10s', podReview('14-uid', DENIED_IMAGE, { dryRun: true })),
    );
    assert.deepEqual(dry, wet);
  });

  it('15. \\u003c/\\u0026 escapes, non-BMP text and a trailing newline parse', async () => {
    const object = pod('p', ALLOWED_IMAGE, { team: 'a' }, { annotations: { note: '<b>&amp; 🙂 𝄞</b>' } });
    const body = goJson(review({ uid: '15-<&>', name: 'p', namespace: 'default', object }));
    assert.ok(body.includes('\\u003cb\\u003e') && body.endsWith('\n'));
    const res = response(await call('/validate?timeout=10s', body));
    assert.equal(res.uid, '15-<&>');
    assert.equal(res.allowed, true);
  });

  it('16. warnings: deduplicated, no control characters, each ≤256 runes, total ≤4096', async () => {
    const body = configMapReview('16-uid', { warn: 'yes' });
    const res = response(await call('/validate?timeout=10s', body));
    const warnings = res.warnings as string[];
    assert.ok(Array.isArray(warnings) && warnings.length > 1);
    assert.equal(new Set(warnings).size, warnings.length);
    let total = 0;
    for (const w of warnings) {
      assert.doesNotMatch(w, /[\u0000-\u001f\u007f]/);
      assert.ok(Array.from(w).length <= 256);
      total += Array.from(w).length;
    }
    assert.ok(total <= 4096, `total ${total}`);
  });

  it('17. auditAnnotations, when present, have valid keys without "/"', async () => {
    for (const uid of ['17a', '17b']) {
      const res = response(
        await call('/validate?timeout=10s', podReview(uid, uid === '17a' ? DENIED_IMAGE : ALLOWED_IMAGE)),
      );
      for (const k of Object.keys((res.auditAnnotations as Record<string, string>) ?? {})) {
        assert.match(k, /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
      }
    }
  });

  it('37. kind and requestKind differ: the decision follows kind and object', async () => {
    const body = podReview('37-uid', DENIED_IMAGE, {
      requestKind: { group: 'example.com', version: 'v9', kind: 'PodAlias' },
    });
    assert.equal(response(await call('/validate?timeout=10s', body)).allowed, false);
  });
});

describe('bad input (§7.18–27)', () => {
  it('18. invalid JSON → 400 Status', async () => {
    assertStatusBody(await call('/validate', '{"apiVersion":'), 400);
  });

  it('19. request missing or null → 400', async () => {
    assertStatusBody(
      await call('/validate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })),
      400,
    );
    assertStatusBody(
      await call(
        '/validate',
        JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: null }),
      ),
      400,
    );
  });

  it('20. uid missing, empty or not a string → 400', async () => {
    for (const uid of [undefined, '', 42]) {
      const doc = review({ uid: 'x', object: pod('p', ALLOWED_IMAGE) }) as {
        request: Record<string, unknown>;
      };
      doc.request.uid = uid;
      assertStatusBody(await call('/validate', JSON.stringify(doc)), 400);
    }
  });

  it('21. apiVersion v2, missing, or kind not AdmissionReview → 400 unsupported group version kind', async () => {
    for (const patch of [{ apiVersion: 'admission.k8s.io/v2' }, { apiVersion: undefined }, { kind: 'Pod' }]) {
      const doc = { ...review({ uid: '21', object: pod('p', ALLOWED_IMAGE) }), ...patch };
      const s = assertStatusBody(await call('/validate', JSON.stringify(doc)), 400);
      assert.match(String(s.message), /unsupported group version kind/);
    }
  });

  it('22. Content-Type text/plain or missing → 415; application/json; charset=utf-8 accepted', async () => {
    assertStatusBody(
      await call('/validate', podReview('22a', ALLOWED_IMAGE), { 'Content-Type': 'text/plain' }),
      415,
    );
    assertStatusBody(await call('/validate', podReview('22b', ALLOWED_IMAGE), {}), 415);
    const ok = await call('/validate', podReview('22c', ALLOWED_IMAGE), {
      'Content-Type': 'application/json; charset=utf-8',
    });
    assert.equal(ok.status, 200);
  });

  it('23. Content-Encoding gzip → 415', async () => {
    const { gzipSync } = await import('node:zlib');
    const gz = gzipSync(podReview('23', ALLOWED_IMAGE));
    assertStatusBody(
      await call('/validate', gz, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }),
      415,
    );
  });

  it('24. bodies over the limit → 413 before buffering; the connection closes; memory stays bounded', async (t) => {
    const pids = workerPids();
    const before = pids.map(rssKb);
    // A Content-Length promising 20 MiB: answered from the header alone, then the connection closes.
    const c1 = await RawConnection.open({ port: server.port, ...tlsOpts() });
    await c1.write(
      `POST /validate HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nContent-Length: ${20 * 1024 * 1024}\r\n\r\n`,
    );
    assertStatusBody(await c1.readResponse(), 413);
    await c1.waitClosed(5000);
    // A body actually streamed (chunked, no Content-Length): answered 413 and cut off once past the
    // limit. Socket buffers on both sides can absorb several MiB after the server closed, so the
    // upload offered is far larger than limit + buffers (48 MiB against 8 MiB).
    const UPLOAD = 48 * 1024 * 1024;
    const c2 = await RawConnection.open({ port: server.port, ...tlsOpts() });
    await c2.write(
      'POST /validate HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    let sent = 0;
    while (sent < UPLOAD && !c2.ended) {
      const ok = await c2.write(frame).then(
        () => true,
        () => false,
      );
      if (!ok) break;
      sent += chunk.length;
    }
    const answer = await c2.readResponse(5000).catch(() => undefined);
    if (answer !== undefined) assertStatusBody(answer, 413);
    await c2.waitClosed(10_000);
    assert.ok(sent < UPLOAD, `the upload was cut off (after ${sent} bytes)`);
    t.diagnostic(`streamed upload cut off after ${(sent / 1048576).toFixed(1)} MiB (limit 8 MiB)`);
    c1.close();
    c2.close();
    const grown = pids.map((p, i) => rssKb(p) - (before[i] ?? 0));
    for (const g of grown) assert.ok(g < 64 * 1024, `worker RSS grew by ${g} KiB`);
  });

  it('25. a 6 MiB AdmissionReview is accepted within the deadline', async () => {
    const object = pod(
      'big',
      ALLOWED_IMAGE,
      { team: 'a' },
      { annotations: { pad: 'x'.repeat(6 * 1024 * 1024) } },
    );
    const body = goJson(review({ uid: '25-uid', name: 'big', namespace: 'default', object }));
    assert.ok(Buffer.byteLength(body) > 6 * 1024 * 1024);
    const t0 = performance.now();
    const r = await call('/validate?timeout=10s', body);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(response(r).allowed, true);
    assert.ok(performance.now() - t0 < 10_000);
  });

  it('26. GET/PUT/HEAD /validate → 405 Allow: POST; unknown path → 404 with a Status body', async () => {
    for (const method of ['GET', 'PUT', 'HEAD']) {
      const r = await call('/validate', undefined, {}, method);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'POST');
      if (method !== 'HEAD') assertStatusBody(r, 405);
    }
    assertStatusBody(await call('/nope', podReview('26', ALLOWED_IMAGE)), 404);
    assertStatusBody(await call('/nope', undefined, {}, 'GET'), 404);
  });

  it('27. request.object of the wrong type → 400, not a crash', async () => {
    const doc = review({ uid: '27', object: 'a string' });
    assertStatusBody(await call('/validate', JSON.stringify(doc)), 400);
  });

  it('health endpoints', async () => {
    assert.equal((await call('/healthz', undefined, {}, 'GET')).status, 200);
    assert.equal((await call('/readyz', undefined, {}, 'GET')).status, 200);
  });
});

describe('deadlines (§7.28, 36)', () => {
  it('28. ?timeout=1s with a 5 s policy: answered before ~1 s, without Retry-After; garbled timeout uses the default', async () => {
    const t0 = performance.now();
    const r = await call('/validate?timeout=1s', configMapReview('28a', { sleep: '5000' }));
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `answered after ${ms} ms`);
    if (r.status === 200) assert.equal(response(r).allowed, false, 'the binding fails closed');
    else assert.ok(r.status >= 500);
    const quick = configMapReview('28b', { sleep: '300' });
    for (const q of ['?timeout=abc', '?timeout=', '', '?timeout=1m0s', '?timeout=1.5s']) {
      const ok = await call(`/validate${q}`, quick);
      assert.equal(ok.status, 200, q);
      assert.equal(response(ok).allowed, true, q);
    }
  });
});

// The slow checks (idle timeouts, slow-loris) run concurrently with the throughput checks: they wait
// on uWS's timers, not on the CPU.
describe('transport, timing and throughput (§7.29–34)', { concurrency: true }, () => {
  it('29. slow-loris: headers at 1 byte/s and a trickled body are cut off; others are unaffected', async () => {
    const headerLoris = await RawConnection.open({ port: server.port, ...tlsOpts() });
    const bodyLoris = await RawConnection.open({ port: server.port, ...tlsOpts() });
    const t0 = performance.now();
    const head =
      'POST /validate?timeout=10s HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
    await bodyLoris.write(head);
    let i = 0;
    const drip = setInterval(() => {
      if (!headerLoris.ended) void headerLoris.write(head[i++ % head.length] ?? 'x').catch(() => {});
      if (!bodyLoris.ended) void bodyLoris.write(' ').catch(() => {});
    }, 1000);
    try {
      // Meanwhile, a normal client is served at once.
      const r = await call('/validate?timeout=10s', podReview('29-other', ALLOWED_IMAGE));
      assert.equal(r.status, 200);
      await headerLoris.waitClosed(14_000);
      await bodyLoris.waitClosed(14_000);
    } finally {
      clearInterval(drip);
      headerLoris.close();
      bodyLoris.close();
    }
    for (const c of [headerLoris, bodyLoris]) {
      const s = ((c.closedAt ?? 0) - t0) / 1000;
      assert.ok(s < 15, `closed after ${s.toFixed(1)} s`);
    }
  });

  it('30. clients that abort mid-body or mid-evaluation crash nothing', async () => {
    const before = crashes().length;
    const midBody = await RawConnection.open({ port: server.port, ...tlsOpts() });
    await midBody.write(
      'POST /validate HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"apiVersion"',
    );
    midBody.close();
    const midEval = await RawConnection.open({ port: server.port, ...tlsOpts() });
    const slowBody = configMapReview('30', { sleep: '1000' });
    await midEval.write(
      `POST /validate?timeout=10s HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(slowBody)}\r\n\r\n${slowBody}`,
    );
    midEval.close();
    // Every worker logs the aborted evaluation; once it was seen, a request that outlasts the abandoned
    // one (1.2 s > 1 s) shows the worker survived answering nobody.
    const deadline = Date.now() + 5000;
    while (
      !server.logs().some((l) => String(l.msg).includes('client closed the connection')) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const afterwards = await call('/validate?timeout=10s', configMapReview('30-after', { sleep: '1200' }));
    assert.equal(afterwards.status, 200);
    assert.equal(crashes().length, before, 'no worker crashed');
  });

  it('32. idle keep-alive: reused after a short idle; uWS closes an idle connection cleanly at 8–12 s', async (t) => {
    // uWS closes idle HTTP connections after 10 s, with its 4 s timer granularity: between 8 and 12 s.
    const short = await RawConnection.open({ port: server.port, ...tlsOpts() });
    const idle = await RawConnection.open({ port: server.port, ...tlsOpts() });
    try {
      assert.equal(
        (await short.request('POST', '/validate?timeout=10s', podReview('32a', ALLOWED_IMAGE))).status,
        200,
      );
      const tShort = performance.now();
      assert.equal(
        (await idle.request('POST', '/validate?timeout=10s', podReview('32b', ALLOWED_IMAGE))).status,
        200,
      );
      const tIdle = performance.now();
      await new Promise((r) => setTimeout(r, 5000));
      // The throughput checks share this process: its timers can lag. Reuse is only asserted when the
      // connection was really idle for less than uWS's earliest close (8 s).
      const waited = (performance.now() - tShort) / 1000;
      if (waited < 7.5) {
        assert.equal(short.ended, false, `still open after ${waited.toFixed(1)} s idle`);
        const again = await short.request('POST', '/validate?timeout=10s', podReview('32c', ALLOWED_IMAGE));
        assert.equal(again.status, 200, 'reused after idling');
      } else {
        t.diagnostic(`the test process lagged: ${waited.toFixed(1)} s instead of 5 s; reuse not checked`);
      }
      await idle.waitClosed(12_000);
      const s = ((idle.closedAt ?? 0) - tIdle) / 1000;
      // 8–12 s on the server; allow the client's own lag on top.
      assert.ok(s >= 7.5 && s <= 14, `closed after ${s.toFixed(1)} s idle`);
      assert.equal(idle.error, undefined, 'a clean close (FIN), not a reset');
    } finally {
      short.close();
      idle.close();
    }
  });

  it('34. a pipelined second request: answered or the socket closed; the server keeps serving', async () => {
    const c = await RawConnection.open({ port: server.port, ...tlsOpts() });
    const one = podReview('34a', ALLOWED_IMAGE);
    const req = `POST /validate HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(one)}\r\n\r\n${one}`;
    await c.write(req + req);
    try {
      const first = await c.readResponse(5000);
      assert.equal(first.status, 200);
      const second = await c.readResponse(5000).catch(() => undefined);
      if (second !== undefined) assert.equal(second.status, 200);
    } catch {
      assert.ok(c.ended, 'closed rather than answered');
    } finally {
      c.close();
    }
    assert.equal((await call('/healthz', undefined, {}, 'GET')).status, 200);
  });
  it('31. 1,000 sequential requests on one TLS connection: Content-Length, no Connection: close', async () => {
    const c = await RawConnection.open({ port: server.port, ...tlsOpts() });
    try {
      for (let i = 0; i < 1000; i++) {
        const r = await c.request(
          'POST',
          '/validate?timeout=10s',
          podReview(`31-${i}`, i % 2 ? ALLOWED_IMAGE : DENIED_IMAGE),
        );
        assert.equal(r.status, 200);
        assert.ok(r.headers['content-length'] !== undefined);
        assert.notEqual(r.headers.connection?.toLowerCase(), 'close');
        assert.equal(response(r).uid, `31-${i}`);
      }
      assert.equal(c.ended, false);
    } finally {
      c.close();
    }
  });

  it('33. 64 connections × 50 requests mixing v1 and v1beta1: every answer matches its request', async () => {
    const conns = await Promise.all(
      Array.from({ length: 64 }, () => RawConnection.open({ port: server.port, ...tlsOpts() })),
    );
    try {
      await Promise.all(
        conns.map(async (c, ci) => {
          for (let i = 0; i < 50; i++) {
            const apiVersion = (ci + i) % 2 ? 'admission.k8s.io/v1' : 'admission.k8s.io/v1beta1';
            const uid = `33-${ci}-${i}`;
            const r = await c.request(
              'POST',
              '/validate?timeout=10s',
              podReview(uid, i % 3 ? ALLOWED_IMAGE : DENIED_IMAGE, { apiVersion }),
            );
            assert.equal(r.status, 200);
            const doc = JSON.parse(r.text) as {
              apiVersion: string;
              response: { uid: string; allowed: boolean };
            };
            assert.equal(doc.apiVersion, apiVersion);
            assert.equal(doc.response.uid, uid);
            assert.equal(doc.response.allowed, i % 3 !== 0);
          }
        }),
      );
    } finally {
      for (const c of conns) c.close();
    }
  });
});

describe('metrics, logging and shutdown', () => {
  it("every answer is counted: tollgate_requests_total on the primary's /metrics adds up over both workers", async () => {
    const text = await new Promise<string>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }, (res) => {
        let t = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          t += d;
        });
        res.on('end', () => resolve(t));
      }).on('error', reject);
    });
    const sample = (labels: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`tollgate_requests_total{${labels}}`));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    // 64 × 50 (a third denied) and 1,000 (half denied) on top of the smaller checks.
    assert.ok(
      sample('endpoint="validate",operation="CREATE",kind="Pod",decision="allowed"') >= 64 * 33 + 500,
      text.slice(0, 2000),
    );
    assert.ok(sample('endpoint="validate",operation="CREATE",kind="Pod",decision="denied"') >= 64 * 17 + 500);
    assert.ok(sample('endpoint="validate",operation="unknown",kind="unknown",decision="error"') >= 10);
    assert.match(text, /tollgate_request_duration_seconds_bucket\{[^}]*endpoint="validate"/);
  });

  it('a denial is logged at info with uid, kind, decision and violated bindings, never the object', () => {
    const denial = server.logs().find((l) => l.uid === '5-uid');
    assert.ok(denial, 'denial logged');
    assert.equal(denial.decision, 'denied');
    assert.equal(denial.kind, 'Pod');
    assert.deepEqual(denial.violated, ['seed-image-check']);
    assert.ok(!server.output().includes(ALLOWED_IMAGE), 'no object content in logs');
    assert.ok(!server.logs().some((l) => l.uid === '1-uid'), 'allows are debug only');
  });

  it('SIGTERM: in-flight requests finish, then every process exits 0', async () => {
    // The request is in flight once its headers are in (the body is still coming): SIGTERM now, wait
    // until every worker has stopped listening, then finish the body and expect the answer.
    const body = podReview('drain', ALLOWED_IMAGE);
    const c = await RawConnection.open({ port: server.port, ...tlsOpts() });
    const half = Math.floor(body.length / 2);
    await c.write(
      `POST /validate?timeout=10s HTTP/1.1\r\nHost: webhook.ns.svc\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`,
    );
    // The healthz answer on a second connection cannot prove which worker holds the first; the drain
    // log lines say how many requests each worker still had.
    const stopped = server.stop();
    const deadline = Date.now() + 10_000;
    while (
      server.logs().filter((l) => String(l.msg).startsWith('draining')).length < 2 &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const draining = server.logs().filter((l) => String(l.msg).startsWith('draining'));
    assert.equal(draining.length, 2);
    assert.equal(
      draining.reduce((n, l) => n + Number(l.inFlight), 0),
      1,
      'one request in flight',
    );
    await c.write(body.slice(half));
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(response(r).uid, 'drain');
    assert.equal(r.headers.connection?.toLowerCase(), 'close', 'draining answers close the connection');
    assert.equal(await stopped, 0);
    c.close();
  });
});
