/**
 * The engine conformance suite (STYLE.md: one interface, several implementations, one shared test suite).
 * Every Engine implementation runs the very same tests: raw request bytes in, encoded body out, through
 * the checklist of ../shared/ADMISSION.md §7 (items 1–21 and 27 at the engine level), failure policies,
 * timeouts, mutation patches (verified with fast-json-patch, an independent implementation) and concurrency.
 *
 *   runEngineConformance('inline', (opts) => InlineEngine.create(opts));
 *
 * Self-contained: each call writes its own temporary rules/bindings/data, creates its engines and closes
 * them (and removes the files) in `after`, so several implementations can run in one process.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import jsonpatch, { type Operation as PatchOp } from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import { decodeReview } from '../src/admission/decode.js';
import type { AdmissionReview } from '../src/admission/types.js';
import { type Engine, type EngineReply, type LoadOptions, loadSource } from '../src/engine/engine.js';
import { buildPolicySet, type PolicySet } from '../src/engine/policy-set.js';
import { review as apiserverReview, goJson, type ReviewOptions } from './helpers/reviews.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------------------
// Helpers shared with the unit tests: temp dirs, policies, reviews.

/** A fresh temporary directory; remove it with `rmSync(dir, { recursive: true, force: true })`. */
export function tempDir(prefix = 'tollgate-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Write `rules/<name>/index.ts` for each entry under `root`; returns the rules directory. */
export function writePolicies(root: string, policies: Readonly<Record<string, string>>): string {
  const rules = join(root, 'rules');
  for (const [name, code] of Object.entries(policies)) {
    mkdirSync(join(rules, name), { recursive: true });
    writeFileSync(join(rules, name, 'index.ts'), code);
  }
  mkdirSync(rules, { recursive: true });
  return rules;
}

/** 1-based line of the first line of `code` that contains `needle` (for source-line assertions). */
export function lineOf(code: string, needle: string): number {
  const i = code.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in code`);
  return i + 1;
}

/**
 * A policy set from policy sources and a bindings YAML text (and optional data YAML), compiled into a
 * fresh directory under `root`. For unit tests of the engine parts below the Engine interface.
 */
export async function policySetFrom(
  root: string,
  policies: Readonly<Record<string, string>>,
  bindings: string,
  data = '',
): Promise<PolicySet> {
  const dir = mkdtempSync(join(root, 'set-'));
  const rules = writePolicies(dir, policies);
  writeFileSync(join(dir, 'bindings.yaml'), bindings);
  writeFileSync(join(dir, 'data.yaml'), data);
  const source = await loadSource({
    rules,
    configs: [join(dir, 'bindings.yaml')],
    data: [join(dir, 'data.yaml')],
    cacheDir: join(root, 'cache'),
  });
  return buildPolicySet(source);
}

/** A Tollgate Binding document (YAML) for `policy`, with optional extra spec fields as JSON. */
export function bindingYaml(name: string, policy: string, spec: Record<string, unknown> = {}): string {
  return `---\napiVersion: tollgate.dev/v1alpha1\nkind: Binding\nmetadata: {name: ${JSON.stringify(name)}}\nspec: ${JSON.stringify({ policy, ...spec })}\n`;
}

/** Decode a review built with `review()` exactly as the server would. */
export function decoded(init: ReviewInit = {}): AdmissionReview {
  return decodeReview(apiserverBytes(review(init)));
}

export type ReviewInit = ReviewOptions;

/**
 * An AdmissionReview shaped as kube-apiserver sends it (test/helpers/reviews.ts), defaulting to CREATE Pod,
 * with name and namespace taken from the object and the resource named after the kind unless given.
 */
export function review(init: ReviewInit = {}): Record<string, unknown> {
  const obj = (init.object ?? null) as { metadata?: { name?: string; namespace?: string } } | null;
  const old = (init.oldObject ?? null) as { metadata?: { name?: string; namespace?: string } } | null;
  const name = init.name ?? obj?.metadata?.name ?? old?.metadata?.name;
  const namespace = init.namespace ?? obj?.metadata?.namespace ?? old?.metadata?.namespace;
  const kind = init.kind ?? { group: '', version: 'v1', kind: 'Pod' };
  return apiserverReview({
    ...init,
    kind,
    resource: init.resource ?? {
      group: kind.group,
      version: kind.version,
      resource: `${kind.kind.toLowerCase()}s`,
    },
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
  });
}

export const ALLOWED_IMAGE = '192.168.64.1:5000/nginx:1.21.1';

export function pod(
  name: string,
  namespace: string,
  opts: { image?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name, namespace };
  if (opts.labels !== undefined) metadata.labels = opts.labels;
  if (opts.annotations !== undefined) metadata.annotations = opts.annotations;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { containers: [{ name: 'app', image: opts.image ?? ALLOWED_IMAGE }] },
  };
}

/** What kube-apiserver's encoding/json sends: HTML characters escaped, trailing newline (§1.4). */
export function apiserverBytes(v: unknown): Uint8Array {
  return new TextEncoder().encode(goJson(v));
}

export interface AdmissionResponseJson {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patchType?: string;
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

const RESPONSE_KEYS = new Set([
  'uid',
  'allowed',
  'status',
  'patchType',
  'patch',
  'warnings',
  'auditAnnotations',
]);
const AUDIT_KEY = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Check the reply is a well-formed 200 AdmissionReview (§7 items 1, 4, 16, 17) and return its response. */
export function admissionResponse(
  reply: EngineReply,
  apiVersion = 'admission.k8s.io/v1',
): AdmissionResponseJson {
  assert.equal(reply.status, 200, `expected 200, got ${reply.status}: ${reply.body}`);
  const doc = JSON.parse(reply.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc).sort(), ['apiVersion', 'kind', 'response']);
  assert.equal(doc.apiVersion, apiVersion);
  assert.equal(doc.kind, 'AdmissionReview');
  const r = doc.response as AdmissionResponseJson;
  for (const k of Object.keys(r)) assert.ok(RESPONSE_KEYS.has(k), `unexpected response key ${k}`);
  assert.equal(typeof r.allowed, 'boolean');
  assert.equal(typeof r.uid, 'string');
  if (r.status !== undefined) {
    assert.ok(r.status.code >= 400, 'a denial status code is >= 400');
    assert.equal(typeof r.status.message, 'string');
  }
  if (r.warnings !== undefined) checkWarnings(r.warnings);
  for (const k of Object.keys(r.auditAnnotations ?? {})) assert.match(k, AUDIT_KEY);
  if (r.patch !== undefined || r.patchType !== undefined) {
    assert.equal(r.patchType, 'JSONPatch');
    assert.match(
      r.patch ?? '',
      /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
      'standard padded base64',
    );
    assert.notEqual(r.patch, '');
  }
  return r;
}

/** ADMISSION.md §3.5: ≤256 runes each, no control characters, no duplicates, ≤4096 runes in all. */
export function checkWarnings(warnings: readonly string[]): void {
  let total = 0;
  assert.equal(new Set(warnings).size, warnings.length, 'warnings are deduplicated');
  for (const w of warnings) {
    const n = Array.from(w).length;
    assert.ok(n > 0 && n <= 256, `warning of ${n} runes`);
    assert.doesNotMatch(w, /[\u0000-\u001f\u007f-\u009f]/, 'no control characters');
    assert.equal(w, w.toWellFormed());
    total += n;
  }
  assert.ok(total <= 4096, `warnings total ${total} runes`);
}

/** A metav1.Status reply (§3.1, §7 items 18–21): the status and the error code. */
export function statusReply(reply: EngineReply, code: number, errorCode: string): Record<string, unknown> {
  assert.equal(reply.status, code, reply.body);
  const doc = JSON.parse(reply.body) as Record<string, unknown>;
  assert.equal(doc.kind, 'Status');
  assert.equal(doc.apiVersion, 'v1');
  assert.equal(doc.status, 'Failure');
  assert.equal(doc.code, code);
  assert.equal(typeof doc.message, 'string');
  assert.ok((doc.message as string).length > 0);
  assert.equal(reply.error?.code, errorCode);
  return doc;
}

/** Decode a response patch (standard base64 of an RFC 6902 array). */
export function decodePatch(r: AdmissionResponseJson): PatchOp[] {
  assert.equal(r.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString('utf8')) as unknown;
  assert.ok(Array.isArray(ops), 'patch is a JSON array');
  return ops as PatchOp[];
}

/** Apply a patch with fast-json-patch (validating each operation) to a copy of `doc`. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  return jsonpatch.applyPatch(structuredClone(doc), ops as PatchOp[], true, false).newDocument;
}

// ---------------------------------------------------------------------------------------------------------
// The fixture: small policies, each bound to its own namespace so that they never interfere.

const sdk = `import { definePolicy } from 'tollgate/sdk';\n`;

export const CONFORMANCE_POLICIES: Readonly<Record<string, string>> = {
  thrower: `${sdk}
export default definePolicy({
  name: 'thrower',
  description: 'Throws on every call.',
  validate() {
    throw new Error('kaboom');
  },
});
`,
  garbage: `${sdk}
export default definePolicy({
  name: 'garbage',
  description: 'Returns something that is not a result.',
  validate() {
    return 42 as never;
  },
});
`,
  'always-deny': `${sdk}
export default definePolicy({
  name: 'always-deny',
  description: 'Denies every Pod.',
  aliases: ['K8sAlwaysDeny'],
  validate() {
    return { message: 'always denied', path: 'metadata.name' };
  },
});
`,
  warner: `${sdk}
export default definePolicy({
  name: 'warner',
  description: 'Warnings built from annotations.',
  validate(ctx) {
    const a = ctx.object?.metadata?.annotations ?? {};
    const warnings: string[] = [];
    if (a.echo !== undefined) warnings.push('echo:' + a.echo);
    if (a.flood === 'yes') {
      warnings.push('x'.repeat(300), 'line one\\nline two', 'dup', 'dup');
      for (let i = 0; i < 40; i++) warnings.push('w' + i + ' ' + 'y'.repeat(150));
    }
    return { warnings };
  },
});
`,
  hang: `${sdk}
export default definePolicy({
  name: 'hang',
  description: 'An async policy that never settles.',
  validate() {
    return new Promise<undefined>(() => {});
  },
});
`,
  'async-check': `${sdk}
export default definePolicy({
  name: 'async-check',
  description: 'An async policy.',
  async validate(ctx) {
    await new Promise((r) => setTimeout(r, 5));
    return ctx.object?.metadata?.labels?.bad === 'true' ? ['async says no'] : [];
  },
});
`,
  'add-labels': `${sdk}
export default definePolicy({
  name: 'add-labels',
  description: 'Adds two labels, one with a slash and one with a tilde in its key.',
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['CREATE', 'UPDATE', 'DELETE'] },
  mutate(ctx) {
    const o = ctx.object;
    if (o === null) return undefined;
    const labels = { ...(o.metadata?.labels ?? {}) };
    labels['tollgate.dev/managed'] = 'true';
    labels['a~b'] = 'x';
    return { ...o, metadata: { ...o.metadata, labels } };
  },
});
`,
  'annotate-labels': `${sdk}
export default definePolicy({
  name: 'annotate-labels',
  description: 'Records the label keys it sees (so runs after add-labels show its change).',
  mutate(ctx) {
    const o = ctx.object;
    if (o === null) return undefined;
    const seen = Object.keys(o.metadata?.labels ?? {}).sort().join(',');
    o.metadata = { ...o.metadata, annotations: { ...(o.metadata?.annotations ?? {}), 'tollgate.dev/seen': seen } };
    return undefined;
  },
});
`,
  protect: `${sdk}
export default definePolicy({
  name: 'protect',
  description: 'Denies deleting Pods labelled protected=true.',
  match: { kinds: [{ apiGroups: [''], kinds: ['Pod'] }], operations: ['DELETE'] },
  validate(ctx) {
    if (ctx.object !== null) return 'DELETE must have a null object';
    return ctx.oldObject?.metadata?.labels?.protected === 'true' ? 'pod is protected' : [];
  },
});
`,
  'connect-guard': `${sdk}
export default definePolicy({
  name: 'connect-guard',
  description: 'Denies attaching to the container named forbidden.',
  match: { kinds: [{ apiGroups: [''], kinds: ['PodAttachOptions'] }], operations: ['CONNECT'] },
  validate(ctx) {
    const o = ctx.object as { container?: string; metadata?: { name?: string } } | null;
    const name = o?.metadata?.name ?? '(none)';
    return o?.container === 'forbidden' ? 'attach to forbidden is not allowed (' + name + ')' : [];
  },
});
`,
  'scale-limit': `${sdk}
export default definePolicy({
  name: 'scale-limit',
  description: 'Denies scaling above 10 replicas.',
  match: { kinds: [{ apiGroups: ['autoscaling'], kinds: ['Scale'] }], operations: ['UPDATE'] },
  validate(ctx) {
    const replicas = (ctx.object as { spec?: { replicas?: number } } | null)?.spec?.replicas ?? 0;
    return replicas > 10 ? 'at most 10 replicas, got ' + replicas : [];
  },
});
`,
  'ns-owner': `${sdk}
export default definePolicy({
  name: 'ns-owner',
  description: 'Namespaces need an owner label.',
  match: { kinds: [{ apiGroups: [''], kinds: ['Namespace'] }], operations: ['CREATE', 'UPDATE'] },
  validate(ctx) {
    return ctx.object?.metadata?.labels?.owner ? [] : 'namespace needs an owner label';
  },
});
`,
  'dry-run-echo': `${sdk}
export default definePolicy({
  name: 'dry-run-echo',
  description: 'Warns with the dryRun flag it sees.',
  validate(ctx) {
    return { warnings: ['dryRun=' + String(ctx.request.dryRun)] };
  },
});
`,
};

const BINDINGS = `
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: thrower-default }
spec: { policy: thrower, match: { namespaces: [throw-default] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: thrower-open }
spec: { policy: thrower, failurePolicy: allow, match: { namespaces: [throw-open] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: garbage }
spec: { policy: garbage, match: { namespaces: [garbage] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: deny-a }
spec: { policy: always-deny, match: { namespaces: [multi] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: deny-b }
spec: { policy: always-deny, match: { namespaces: [multi] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: deny-as-warn }
spec: { policy: always-deny, enforcementAction: warn, match: { namespaces: [warn-action] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: deny-as-dryrun }
spec: { policy: always-deny, enforcementAction: dryrun, match: { namespaces: [dryrun-action] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: ns-selected }
spec:
  policy: always-deny
  match: { namespaceSelector: { matchLabels: { tollgate-test: deny } } }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAlwaysDeny
metadata: { name: gk-deny }
spec:
  match:
    kinds: [{ apiGroups: [''], kinds: [Pod] }]
    namespaces: [gatekeeper]
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: warner }
spec: { policy: warner, match: { namespaces: [warn] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: hang }
spec: { policy: hang, timeoutMs: 100, match: { namespaces: [hang] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: hang-open }
spec: { policy: hang, failurePolicy: allow, match: { namespaces: [hang-open] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: async-check }
spec: { policy: async-check, match: { namespaces: [async] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: add-labels }
spec: { policy: add-labels, match: { namespaces: [mutate] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: annotate-labels }
spec: { policy: annotate-labels, match: { namespaces: [mutate] } }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: protect }
spec: { policy: protect }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: connect-guard }
spec: { policy: connect-guard }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: scale-limit }
spec: { policy: scale-limit }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: ns-owner }
spec: { policy: ns-owner }
---
apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata: { name: dry-run-echo }
spec: { policy: dry-run-echo, match: { namespaces: [dry-run] } }
`;

const DATA = `
apiVersion: v1
kind: Namespace
metadata: { name: selected-ns, labels: { tollgate-test: deny } }
---
apiVersion: v1
kind: Namespace
metadata: { name: other-ns, labels: { tollgate-test: allow } }
`;

export interface ConformanceFixture {
  readonly root: string;
  readonly options: LoadOptions;
  cleanup(): void;
}

/** The suite's rules (the repo's seed-image-check and the policies above), bindings and data, in a temp dir. */
export function conformanceFixture(): ConformanceFixture {
  const root = tempDir('tollgate-conformance-');
  const rules = writePolicies(root, CONFORMANCE_POLICIES);
  cpSync(join(REPO_ROOT, 'rules', 'seed-image-check'), join(rules, 'seed-image-check'), { recursive: true });
  writeFileSync(join(root, 'bindings.yaml'), BINDINGS);
  writeFileSync(join(root, 'data.yaml'), DATA);
  return {
    root,
    options: {
      rules,
      configs: [join(REPO_ROOT, 'examples', 'seed', 'binding.yaml'), join(root, 'bindings.yaml')],
      data: [join(root, 'data.yaml')],
      cacheDir: join(root, 'cache'),
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The suite.

export function runEngineConformance(name: string, create: (opts: LoadOptions) => Promise<Engine>): void {
  describe(`engine conformance: ${name}`, () => {
    let fx: ConformanceFixture | undefined;
    let engine: Engine | undefined;

    before(async () => {
      fx = conformanceFixture();
      engine = await create(fx.options);
    });

    after(async () => {
      await engine?.close();
      fx?.cleanup();
    });

    const call = (body: unknown, endpoint: 'validate' | 'mutate' = 'validate', timeoutMs?: number) => {
      const bytes = body instanceof Uint8Array ? body : apiserverBytes(body);
      return engine!.evaluate({ body: bytes, endpoint, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    };

    describe('happy path and shape', () => {
      it('1: v1 CREATE Pod is allowed with exactly {uid, allowed}', async () => {
        const rv = review({ object: pod('ok', 'default') });
        const reply = await call(rv);
        const r = admissionResponse(reply);
        assert.deepEqual(r, { uid: (rv.request as { uid: string }).uid, allowed: true });
        assert.equal(reply.decision?.uid, (rv.request as { uid: string }).uid);
      });

      it('2: v1beta1 is answered in v1beta1', async () => {
        const rv = review({ apiVersion: 'admission.k8s.io/v1beta1', object: pod('ok', 'default') });
        const r = admissionResponse(await call(rv), 'admission.k8s.io/v1beta1');
        assert.deepEqual(r, { uid: (rv.request as { uid: string }).uid, allowed: true });
        const denied = review({
          apiVersion: 'admission.k8s.io/v1beta1',
          object: pod('bad', 'default', { image: 'nginx:latest' }),
        });
        assert.equal(admissionResponse(await call(denied), 'admission.k8s.io/v1beta1').allowed, false);
      });

      it('3: a non-UUID uid with non-BMP characters is echoed byte for byte', async () => {
        const uid = 'x-🙂-1';
        const reply = await call(review({ uid, object: pod('ok', 'default') }));
        assert.equal(admissionResponse(reply).uid, uid);
        assert.ok(reply.body.includes(`"uid":"${uid}"`), 'raw UTF-8 in the body');
      });

      it('5: seed examples: allowed, Docker Hub and :latest images denied with 403 Forbidden', async () => {
        const seed = (f: string) =>
          parseYaml(readFileSync(join(REPO_ROOT, 'examples', 'seed', 'pods', f), 'utf8')) as Record<
            string,
            unknown
          >;
        const ok = admissionResponse(await call(review({ object: seed('nginx-allowed.yaml') })));
        assert.equal(ok.allowed, true);
        const hub = admissionResponse(await call(review({ object: seed('nginx-dockerhub.yaml') })));
        assert.equal(hub.allowed, false);
        assert.deepEqual(hub.status, {
          code: 403,
          reason: 'Forbidden',
          message: '[seed-image-check] nginx:1.21.1 repo not start with 192.168.64.1',
        });
        const latest = admissionResponse(await call(review({ object: seed('nginx-latest.yaml') })));
        assert.equal(latest.allowed, false);
        assert.equal(
          latest.status?.message,
          '[seed-image-check] 192.168.64.1:5000/nginx:latest tag end with :latest',
        );
        assert.equal(latest.patch, undefined);
      });

      it('5: every violation of every binding is reported, joined with "; "', async () => {
        const both = admissionResponse(
          await call(review({ object: pod('p', 'default', { image: 'nginx:latest' }) })),
        );
        assert.equal(
          both.status?.message,
          '[seed-image-check] nginx:latest repo not start with 192.168.64.1; [seed-image-check] nginx:latest tag end with :latest',
        );
        const multi = admissionResponse(await call(review({ object: pod('p', 'multi') })));
        assert.equal(multi.status?.message, '[deny-a] always denied; [deny-b] always denied');
        const gk = admissionResponse(await call(review({ object: pod('p', 'gatekeeper') })));
        assert.equal(gk.status?.message, '[gk-deny] always denied');
      });

      it('namespaceSelector uses the Namespace objects given as data', async () => {
        const sel = admissionResponse(await call(review({ object: pod('p', 'selected-ns') })));
        assert.equal(sel.status?.message, '[ns-selected] always denied');
        assert.equal(admissionResponse(await call(review({ object: pod('p', 'other-ns') }))).allowed, true);
        // A namespace the engine knows nothing about does not match a namespaceSelector.
        assert.equal(admissionResponse(await call(review({ object: pod('p', 'unknown-ns') }))).allowed, true);
      });

      it('enforcementAction warn turns violations into warnings; dryrun only records them', async () => {
        const warn = admissionResponse(await call(review({ object: pod('p', 'warn-action') })));
        assert.equal(warn.allowed, true);
        assert.deepEqual(warn.warnings, ['[deny-as-warn] always denied']);
        const dryReply = await call(review({ object: pod('p', 'dryrun-action') }));
        const dry = admissionResponse(dryReply);
        assert.deepEqual(dry, { uid: dry.uid, allowed: true });
        const rec = dryReply.decision?.evaluations.find((e) => e.binding === 'deny-as-dryrun');
        assert.equal(rec?.outcome, 'dryrun');
        assert.equal(rec?.violations[0]?.message, 'always denied');
      });

      it('6: the validate endpoint never returns a patch, even when a mutating binding matches', async () => {
        const r = admissionResponse(await call(review({ object: pod('p', 'mutate') }), 'validate'));
        assert.equal(r.allowed, true);
        assert.equal(r.patch, undefined);
        assert.equal(r.patchType, undefined);
      });

      it('7: a mutation that changes nothing omits patch and patchType', async () => {
        const labels = { 'a~b': 'x', app: 'web', 'tollgate.dev/managed': 'true' };
        const annotations = { 'tollgate.dev/seen': 'app,a~b,tollgate.dev/managed' };
        const r = admissionResponse(
          await call(review({ object: pod('p', 'mutate', { labels, annotations }) }), 'mutate'),
        );
        assert.deepEqual(r, { uid: r.uid, allowed: true });
        // No mutating binding at all:
        const none = admissionResponse(await call(review({ object: pod('p', 'default') }), 'mutate'));
        assert.deepEqual(none, { uid: none.uid, allowed: true });
      });

      it('8, 9: a Pod without labels gets /metadata/labels as a whole object; the patch applies', async () => {
        const object = pod('p', 'mutate');
        const r = admissionResponse(await call(review({ object }), 'mutate'));
        assert.equal(r.allowed, true);
        const ops = decodePatch(r);
        const labelOps = ops.filter((o) => o.path.startsWith('/metadata/labels'));
        assert.deepEqual(labelOps, [
          { op: 'add', path: '/metadata/labels', value: { 'tollgate.dev/managed': 'true', 'a~b': 'x' } },
        ]);
        const patched = applyPatch(object, ops) as { metadata: Record<string, unknown> };
        assert.deepEqual(patched.metadata.labels, { 'tollgate.dev/managed': 'true', 'a~b': 'x' });
        // Mutations run in sequence: annotate-labels saw add-labels' change.
        assert.deepEqual(patched.metadata.annotations, { 'tollgate.dev/seen': 'a~b,tollgate.dev/managed' });
      });

      it('9: keys with / and ~ are escaped when labels exist', async () => {
        const object = pod('p', 'mutate', { labels: { app: 'web' } });
        const r = admissionResponse(await call(review({ object }), 'mutate'));
        const ops = decodePatch(r);
        const paths = ops.map((o) => o.path);
        assert.ok(paths.includes('/metadata/labels/tollgate.dev~1managed'), paths.join(' '));
        assert.ok(paths.includes('/metadata/labels/a~0b'), paths.join(' '));
        const patched = applyPatch(object, ops) as { metadata: { labels: Record<string, string> } };
        assert.deepEqual(patched.metadata.labels, { app: 'web', 'tollgate.dev/managed': 'true', 'a~b': 'x' });
      });

      it('8: autogen mutates a Deployment pod template; the patch applies to the Deployment', async () => {
        const object = {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'd', namespace: 'mutate' },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'd' } },
            template: {
              metadata: { labels: { app: 'd' } },
              spec: { containers: [{ name: 'c', image: ALLOWED_IMAGE }] },
            },
          },
        };
        const rv = review({
          object,
          kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
          resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        });
        const ops = decodePatch(admissionResponse(await call(rv, 'mutate')));
        for (const o of ops) assert.match(o.path, /^\/spec\/template\/metadata\//);
        const patched = applyPatch(object, ops);
        assert.deepEqual(patched.spec.template.metadata.labels, {
          app: 'd',
          'tollgate.dev/managed': 'true',
          'a~b': 'x',
        });
        assert.deepEqual(patched.metadata, object.metadata);
      });

      it('10: DELETE is decided on oldObject and never patched', async () => {
        const protectedPod = pod('p', 'default', { labels: { protected: 'true' } });
        const denied = admissionResponse(
          await call(review({ operation: 'DELETE', oldObject: protectedPod })),
        );
        assert.equal(denied.allowed, false);
        assert.equal(denied.status?.message, '[protect] pod is protected');
        const ok = admissionResponse(
          await call(review({ operation: 'DELETE', oldObject: pod('p', 'default') })),
        );
        assert.equal(ok.allowed, true);
        // add-labels matches DELETE in namespace mutate, but a DELETE has no object to patch.
        const m = admissionResponse(
          await call(review({ operation: 'DELETE', oldObject: pod('p', 'mutate') }), 'mutate'),
        );
        assert.deepEqual(m, { uid: m.uid, allowed: true });
      });

      it('11: CONNECT pods/attach with options object and no metadata', async () => {
        const attach = (container: string) =>
          review({
            operation: 'CONNECT',
            kind: { group: '', version: 'v1', kind: 'PodAttachOptions' },
            resource: { group: '', version: 'v1', resource: 'pods' },
            subResource: 'attach',
            name: 'web',
            namespace: 'default',
            object: {
              kind: 'PodAttachOptions',
              apiVersion: 'v1',
              stdin: true,
              stdout: true,
              tty: true,
              container,
            },
          });
        assert.equal(admissionResponse(await call(attach('app'))).allowed, true);
        const denied = admissionResponse(await call(attach('forbidden')));
        assert.equal(denied.status?.message, '[connect-guard] attach to forbidden is not allowed ((none))');
        assert.deepEqual(admissionResponse(await call(attach('app'), 'mutate')).allowed, true);
      });

      it('12: UPDATE pods/status and deployments/scale', async () => {
        const status = review({
          operation: 'UPDATE',
          subResource: 'status',
          object: pod('p', 'default'),
          oldObject: pod('p', 'default'),
        });
        assert.equal(admissionResponse(await call(status)).allowed, true);
        const scale = (replicas: number) =>
          review({
            operation: 'UPDATE',
            kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
            resource: { group: 'apps', version: 'v1', resource: 'deployments' },
            subResource: 'scale',
            object: {
              kind: 'Scale',
              apiVersion: 'autoscaling/v1',
              metadata: { name: 'd', namespace: 'default' },
              spec: { replicas },
            },
            oldObject: {
              kind: 'Scale',
              apiVersion: 'autoscaling/v1',
              metadata: { name: 'd', namespace: 'default' },
              spec: { replicas: 1 },
            },
          });
        assert.equal(admissionResponse(await call(scale(3))).allowed, true);
        assert.equal(
          admissionResponse(await call(scale(20))).status?.message,
          '[scale-limit] at most 10 replicas, got 20',
        );
      });

      it('13: generateName without a name, and a cluster-scoped Namespace', async () => {
        const object = pod('ignored', 'default');
        const meta = object.metadata as Record<string, unknown>;
        delete meta.name;
        meta.generateName = 'web-';
        const reply = await call(review({ object }));
        assert.equal(admissionResponse(reply).allowed, true);
        assert.equal(reply.decision?.name, undefined);
        const ns = (labels?: Record<string, string>) =>
          review({
            kind: { group: '', version: 'v1', kind: 'Namespace' },
            resource: { group: '', version: 'v1', resource: 'namespaces' },
            object: {
              apiVersion: 'v1',
              kind: 'Namespace',
              metadata: { name: 'team-a', ...(labels ? { labels } : {}) },
            },
          });
        const rv = ns();
        assert.equal((rv.request as Record<string, unknown>).namespace, undefined);
        assert.equal(
          admissionResponse(await call(rv)).status?.message,
          '[ns-owner] namespace needs an owner label',
        );
        assert.equal(admissionResponse(await call(ns({ owner: 'me' }))).allowed, true);
      });

      it('14: dryRun gives the same decision and reaches the policy', async () => {
        for (const dryRun of [false, true]) {
          const r = admissionResponse(
            await call(review({ dryRun, object: pod('p', 'default', { image: 'nginx' }) })),
          );
          assert.equal(r.allowed, false);
          assert.equal(r.status?.message, '[seed-image-check] nginx repo not start with 192.168.64.1');
          const w = admissionResponse(await call(review({ dryRun, object: pod('p', 'dry-run') })));
          assert.deepEqual(w.warnings, [`[dry-run-echo] dryRun=${dryRun}`]);
        }
      });

      it('15: \\u003c/\\u0026 escapes, non-BMP text and a trailing newline are decoded', async () => {
        const text = `a<b&c>d 😀 \u2028`;
        const bytes = apiserverBytes(review({ object: pod('p', 'warn', { annotations: { echo: text } }) }));
        const raw = new TextDecoder().decode(bytes);
        assert.ok(raw.includes('\\u003c') && raw.includes('\\u0026') && raw.endsWith('\n'));
        const r = admissionResponse(await call(bytes));
        assert.deepEqual(r.warnings, [`[warner] echo:a<b&c>d 😀`]);
      });

      it('16: warnings are capped, stripped of control characters, deduplicated', async () => {
        const r = admissionResponse(
          await call(review({ object: pod('p', 'warn', { annotations: { flood: 'yes' } }) })),
        );
        assert.equal(r.allowed, true);
        const w = r.warnings ?? [];
        assert.ok(w.length > 5, 'keeps the warnings that fit');
        assert.equal(w.filter((x) => x === '[warner] dup').length, 1);
        assert.ok(w.some((x) => x.startsWith('[warner] xxxx') && Array.from(x).length === 256));
        assert.ok(w.some((x) => x.includes('line one') && x.includes('line two')));
      });
    });

    describe('failures decided by the failure policy', () => {
      it('a throwing policy fails closed by default, naming the source line', async () => {
        const reply = await call(review({ object: pod('p', 'throw-default') }));
        const r = admissionResponse(reply);
        assert.equal(r.allowed, false);
        assert.equal(r.status?.code, 403);
        const line = lineOf(CONFORMANCE_POLICIES.thrower!, 'throw new Error');
        assert.match(
          r.status?.message ?? '',
          /^\[thrower-default\] policy failed \(TOLLGATE_ERR_POLICY_THREW\): kaboom/,
        );
        assert.match(r.status?.message ?? '', new RegExp(`rules/thrower/index\\.ts:${line}\\b`));
        const rec = reply.decision?.evaluations.find((e) => e.binding === 'thrower-default');
        assert.equal(rec?.outcome, 'error');
        assert.equal(rec?.error?.code, 'TOLLGATE_ERR_POLICY_THREW');
      });

      it('failurePolicy allow admits, with a warning', async () => {
        const r = admissionResponse(await call(review({ object: pod('p', 'throw-open') })));
        assert.equal(r.allowed, true);
        assert.equal(r.warnings?.length, 1);
        assert.match(
          r.warnings?.[0] ?? '',
          /^\[thrower-open\] policy failed \(TOLLGATE_ERR_POLICY_THREW\).*allowed by failurePolicy$/,
        );
      });

      it('a garbage result is a policy failure', async () => {
        const r = admissionResponse(await call(review({ object: pod('p', 'garbage') })));
        assert.equal(r.allowed, false);
        assert.match(r.status?.message ?? '', /TOLLGATE_ERR_POLICY_BAD_RESULT/);
      });

      it('async policies are awaited', async () => {
        assert.equal(admissionResponse(await call(review({ object: pod('p', 'async') }))).allowed, true);
        const r = admissionResponse(
          await call(review({ object: pod('p', 'async', { labels: { bad: 'true' } }) })),
        );
        assert.equal(r.status?.message, '[async-check] async says no');
      });

      it('an async policy past its binding timeout fails closed', async () => {
        const t0 = performance.now();
        const reply = await call(review({ object: pod('p', 'hang') }));
        const r = admissionResponse(reply);
        assert.ok(performance.now() - t0 < 3000, 'answered soon after the 100 ms timeout');
        assert.equal(r.allowed, false);
        assert.match(r.status?.message ?? '', /^\[hang\] policy failed \(TOLLGATE_ERR_POLICY_TIMEOUT\)/);
      });

      it("an async policy past the request's time budget is decided by its failure policy", async () => {
        const t0 = performance.now();
        const r = admissionResponse(await call(review({ object: pod('p', 'hang-open') }), 'validate', 200));
        assert.ok(performance.now() - t0 < 3000, 'answered within the budget (plus slack)');
        assert.equal(r.allowed, true, JSON.stringify(r));
        assert.match(r.warnings?.[0] ?? '', /TOLLGATE_ERR_POLICY_TIMEOUT/);
      });
    });

    describe('bad input → 400 metav1.Status', () => {
      const enc = (s: string) => new TextEncoder().encode(s);
      const bad = async (body: Uint8Array | Record<string, unknown>, code: string) => {
        for (const endpoint of ['validate', 'mutate'] as const) {
          statusReply(await call(body, endpoint), 400, code);
        }
      };

      it('18: invalid JSON', async () => {
        await bad(enc('{"apiVersion":'), 'TOLLGATE_ERR_ADMISSION_BAD_JSON');
        await bad(enc(''), 'TOLLGATE_ERR_ADMISSION_BAD_JSON');
        await bad(Uint8Array.from([0xff, 0xfe, 0x7b]), 'TOLLGATE_ERR_ADMISSION_BAD_JSON');
      });

      it('18: nesting too deep for the evaluator is a clean 400, not a stack overflow', async () => {
        await bad(enc(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 'TOLLGATE_ERR_ADMISSION_BAD_JSON');
        const deep = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
        const text = new TextDecoder().decode(apiserverBytes(review({ object: pod('p', 'mutate') })));
        await bad(
          enc(text.replace('"spec":{', `"spec":{"deep":${deep},`)),
          'TOLLGATE_ERR_ADMISSION_BAD_JSON',
        );
        // Moderately deep objects are fine on both endpoints.
        const ok = `${'{"a":'.repeat(200)}1${'}'.repeat(200)}`;
        const body = enc(text.replace('"spec":{', `"spec":{"deep":${ok},`));
        assert.equal(admissionResponse(await call(body, 'validate')).allowed, true);
        const m = admissionResponse(await call(body, 'mutate'));
        assert.equal(decodePatch(m).length > 0, true);
      });

      it('19: request missing or null', async () => {
        await bad(
          { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
          'TOLLGATE_ERR_ADMISSION_NO_REQUEST',
        );
        await bad(
          { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: null },
          'TOLLGATE_ERR_ADMISSION_NO_REQUEST',
        );
        await bad(
          { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: 'x' },
          'TOLLGATE_ERR_ADMISSION_NO_REQUEST',
        );
      });

      it('20: uid missing, empty or not a string', async () => {
        for (const uid of [undefined, '', 42, null, ['u']]) {
          const rv = review({ object: pod('p', 'default') });
          const req = rv.request as Record<string, unknown>;
          if (uid === undefined) delete req.uid;
          else req.uid = uid;
          await bad(rv, 'TOLLGATE_ERR_ADMISSION_NO_UID');
        }
      });

      it('21: unsupported group/version/kind', async () => {
        for (const [apiVersion, kind] of [
          ['admission.k8s.io/v2', 'AdmissionReview'],
          [undefined, 'AdmissionReview'],
          ['admission.k8s.io/v1', 'Review'],
          ['admission.k8s.io/v1', undefined],
        ]) {
          const rv = review({ object: pod('p', 'default') });
          if (apiVersion === undefined) delete rv.apiVersion;
          else rv.apiVersion = apiVersion;
          if (kind === undefined) delete rv.kind;
          else rv.kind = kind;
          await bad(rv, 'TOLLGATE_ERR_ADMISSION_BAD_GVK');
        }
        await bad(enc('[]'), 'TOLLGATE_ERR_ADMISSION_BAD_GVK');
        await bad(enc('"AdmissionReview"'), 'TOLLGATE_ERR_ADMISSION_BAD_GVK');
      });

      it('27: object of the wrong type', async () => {
        for (const object of ['a string', 42, [pod('p', 'default')], { metadata: 'x' }]) {
          const rv = review({ object: pod('p', 'default') });
          (rv.request as Record<string, unknown>).object = object;
          await bad(rv, 'TOLLGATE_ERR_ADMISSION_BAD_FIELD');
        }
      });

      it('__proto__ and constructor keys do not pollute prototypes', async () => {
        const text = new TextDecoder().decode(apiserverBytes(review({ object: pod('p', 'default') })));
        const polluted = text.replace(
          '"metadata":{',
          '"metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},',
        );
        const r = admissionResponse(await call(enc(polluted)));
        assert.equal(r.allowed, true);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
      });
    });

    describe('size', () => {
      it('25: a 6 MiB review is answered, on both endpoints', async () => {
        const big = pod('big', 'mutate', { annotations: { blob: 'x'.repeat(6 * 1024 * 1024) } });
        const body = apiserverBytes(review({ object: big }));
        assert.ok(body.length > 6 * 1024 * 1024);
        const t0 = performance.now();
        const v = admissionResponse(await call(body, 'validate'));
        assert.equal(v.allowed, true);
        const m = admissionResponse(await call(body, 'mutate'));
        const ops = decodePatch(m);
        assert.ok(
          ops.every((o) => o.path.startsWith('/metadata/')),
          'the patch carries the change, not the blob',
        );
        assert.ok(JSON.stringify(ops).length < 1000);
        assert.ok(performance.now() - t0 < 20_000, 'well within the API server deadline on an idle machine');
      });
    });

    describe('loading', () => {
      it('a policy set that does not load is refused with its error code', async () => {
        const root = tempDir('tollgate-conformance-bad-');
        try {
          const rules = writePolicies(root, {
            'seed-copy': readFileSync(join(REPO_ROOT, 'rules', 'seed-image-check', 'index.ts'), 'utf8'),
          });
          const cases: [string, string][] = [
            [bindingYaml('b', 'no-such-policy'), 'TOLLGATE_ERR_BINDING_UNKNOWN_POLICY'],
            [
              bindingYaml('b', 'seed-image-check', { parameters: { registry: 5 } }),
              'TOLLGATE_ERR_BINDING_PARAMS',
            ],
            [
              bindingYaml('b', 'seed-image-check', { enforcementAction: 'block' }),
              'TOLLGATE_ERR_BINDING_INVALID',
            ],
          ];
          for (const [i, [yaml, code]] of cases.entries()) {
            const file = join(root, `bindings-${i}.yaml`);
            writeFileSync(file, yaml);
            await assert.rejects(
              create({ rules, configs: [file], data: [], cacheDir: join(root, 'cache') }),
              (e: unknown) => {
                assert.equal((e as { code?: unknown }).code, code);
                return true;
              },
            );
          }
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      });
    });

    describe('concurrency', () => {
      it('64 concurrent mixed requests: each reply carries its own uid and decision', async () => {
        const cases = Array.from({ length: 64 }, (_, i) => {
          const good = i % 3 !== 0;
          const apiVersion = i % 2 === 0 ? 'admission.k8s.io/v1' : 'admission.k8s.io/v1beta1';
          const uid = `conc-${i}`;
          return {
            uid,
            good,
            apiVersion,
            rv: review({ uid, apiVersion, object: pod(`p${i}`, 'default', good ? {} : { image: 'nginx' }) }),
          };
        });
        // validate and mutate interleaved: /mutate runs only mutating policies, so it admits every case.
        const endpoint = (i: number) => (i % 4 < 2 ? 'validate' : 'mutate');
        const replies = await Promise.all(cases.map((c, i) => call(c.rv, endpoint(i))));
        replies.forEach((reply, i) => {
          const c = cases[i]!;
          const r = admissionResponse(reply, c.apiVersion);
          assert.equal(r.uid, c.uid);
          assert.equal(r.allowed, endpoint(i) === 'mutate' || c.good);
          assert.equal(reply.decision?.uid, c.uid);
        });
      });
    });
  });
}

/** Create an engine for one test and always close it. */
export async function withEngine<T>(
  create: (opts: LoadOptions) => Promise<Engine>,
  opts: LoadOptions,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const engine = await create(opts);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}
