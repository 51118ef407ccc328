// The shipped deployment must agree with the program: every manifest parses, the container's args are a
// valid `serve` configuration, the bindings ConfigMap loads against the shipped rules, and the webhook
// configurations point at endpoints the server has, with values the API server accepts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadServeConfig } from '../src/config/index.js';
import { loadPolicySet } from '../src/engine/engine.js';

const root = new URL('..', import.meta.url).pathname;
const base = join(root, 'deploy', 'base');

type Doc = Record<string, unknown> & { kind?: string; spec?: Record<string, unknown> };

function docs(): { file: string; doc: Doc }[] {
  const out: { file: string; doc: Doc }[] = [];
  for (const f of readdirSync(base).filter((f) => f.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(readFileSync(join(base, f), 'utf8'))) {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors[0]?.message}`);
      out.push({ file: f, doc: d.toJS() as Doc });
    }
  }
  return out;
}

function byKind(kind: string): Doc[] {
  return docs()
    .filter((d) => d.doc.kind === kind)
    .map((d) => d.doc);
}

describe('deploy/base', () => {
  let certs: string;
  before(() => {
    certs = mkdtempSync(join(tmpdir(), 'tollgate-deploy-'));
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'scripts/tollgate-dev.mjs'), 'certs', '--out', certs],
      {
        stdio: 'ignore',
      },
    );
  });
  after(() => rmSync(certs, { recursive: true, force: true }));

  /** The container args with the in-image paths mapped to this checkout. */
  function localArgs(args: readonly string[]): string[] {
    return args.map((a) =>
      a
        .replace('/etc/tollgate/tls/', `${certs}/`)
        .replace('/app/rules', join(root, 'rules'))
        .replace('/etc/tollgate/bindings', base),
    );
  }

  it('every kustomization resource exists and parses', () => {
    const k = parseAllDocuments(readFileSync(join(base, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
      resources: string[];
      configMapGenerator: { files: string[] }[];
    };
    for (const r of [...k.resources, ...k.configMapGenerator.flatMap((g) => g.files)]) {
      assert.ok(readdirSync(base).includes(r), `${r} is listed in kustomization.yaml but missing`);
    }
    assert.ok(docs().length >= 8);
  });

  it("the Deployment's args are a valid serve configuration", () => {
    const [deployment] = byKind('Deployment');
    const pod = (deployment!.spec!.template as { spec: { containers: { args: string[] }[] } }).spec;
    const args = pod.containers[0]!.args;
    assert.equal(args[0], 'serve');
    const { config } = loadServeConfig({ argv: localArgs(args.slice(1)), env: {} });
    assert.equal(config.port, 8443);
    assert.equal(config.metricsPort, 9090);
    assert.equal(config.drainLingerMs, 12_000);
  });

  it('the Dockerfile CMD is a valid serve configuration', () => {
    const m = /^CMD (\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    assert.ok(m, 'Dockerfile has a JSON CMD');
    const cmd = JSON.parse(m[1]!) as string[];
    assert.equal(cmd[0], 'serve');
    loadServeConfig({ argv: localArgs(cmd.slice(1)), env: {} });
  });

  it('the bindings ConfigMap loads against the shipped rules', async () => {
    const set = await loadPolicySet({
      rules: join(root, 'rules'),
      configs: [join(base, 'bindings.yaml')],
      data: [],
    });
    assert.ok(set.bindings.length >= 1);
  });

  it('the webhook configurations are valid for the API server and target served paths', () => {
    const service = byKind('Service')[0]!;
    const ports = (service.spec!.ports as { port: number }[]).map((p) => p.port);
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const [cfg] = byKind(kind);
      for (const w of (cfg as { webhooks: Record<string, unknown>[] }).webhooks) {
        assert.deepEqual(w.admissionReviewVersions, ['v1', 'v1beta1']);
        assert.ok(['None', 'NoneOnDryRun'].includes(w.sideEffects as string));
        const t = w.timeoutSeconds as number;
        assert.ok(t >= 1 && t <= 30);
        const svc = (w.clientConfig as { service: { path: string; port: number } }).service;
        assert.ok(['/validate', '/mutate', '/'].includes(svc.path));
        assert.ok(ports.includes(svc.port));
        assert.equal(svc.path === '/mutate', kind === 'MutatingWebhookConfiguration');
      }
    }
  });
});
