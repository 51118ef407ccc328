/**
 * Fixtures for the pool engine tests and the hop benchmark: a temporary rules directory with real
 * policies (compiled by the engine like any other), bindings, and AdmissionReview bodies.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadOptions } from '../../src/engine/engine.js';

export interface Fixture {
  readonly dir: string;
  readonly load: LoadOptions;
  /** Write (or overwrite) a policy `rules/<name>/index.ts`. */
  policy(name: string, code: string): void;
  /** Write the bindings file (replacing the previous one). */
  bindings(yaml: string): void;
  remove(): void;
}

export function fixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pool-'));
  const rules = join(dir, 'rules');
  const config = join(dir, 'config');
  mkdirSync(rules);
  mkdirSync(config);
  return {
    dir,
    load: { rules, configs: [config], data: [], cacheDir: join(dir, 'cache') },
    policy(name, code) {
      mkdirSync(join(rules, name), { recursive: true });
      writeFileSync(join(rules, name, 'index.ts'), code);
    },
    bindings(yaml) {
      writeFileSync(join(config, 'bindings.yaml'), yaml);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A policy denying images that end with `:latest`; labels on the pod trigger misbehaviour. */
export const TAG_POLICY = `
import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'no-latest',
  validate(ctx) {
    return ctx.containers().filter((c) => c.image.endsWith(':latest')).map((c) => ({ message: c.image + ' uses :latest', path: c.path + '.image' }));
  },
});
`;

/**
 * Misbehaves on request: label trap=loop (endless sync loop), async-loop (loops after an await, outside
 * the synchronous call), bomb (allocates until the heap ends), throw.
 */
export const TRAP_POLICY = `
import { definePolicy } from 'tollgate/sdk';
export default definePolicy({
  name: 'trap',
  validate(ctx) {
    const trap = ctx.object?.metadata?.labels?.trap;
    if (trap === 'loop') { let n = 0; for (;;) n++; }
    if (trap === 'bomb') { const keep = []; for (;;) keep.push(new Array(1e5).fill(keep.length)); }
    if (trap === 'throw') throw new Error('trap sprung');
    if (trap === 'async-loop') return (async () => { await null; let n = 0; for (;;) n++; })();
    return [];
  },
});
`;

export function binding(name: string, policy: string, extra = ''): string {
  return `apiVersion: tollgate.dev/v1alpha1
kind: Binding
metadata:
  name: ${name}
spec:
  policy: ${policy}
${extra}`;
}

export interface PodOptions {
  readonly uid: string;
  readonly image?: string;
  readonly labels?: Record<string, string>;
  readonly apiVersion?: 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1';
  /** Pad the pod with an annotation to reach about this many bytes. */
  readonly size?: number;
}

export function podReview(o: PodOptions): Uint8Array {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `pod-${o.uid}`,
      namespace: 'default',
      labels: o.labels ?? {},
      annotations: {} as Record<string, string>,
    },
    spec: { containers: [{ name: 'app', image: o.image ?? 'registry.example.com/app:1.0' }] },
  };
  const review = {
    apiVersion: o.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'tester', groups: ['system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: false,
    },
  };
  if (o.size !== undefined) {
    const base = JSON.stringify(review).length;
    if (o.size > base) pod.metadata.annotations.pad = 'x'.repeat(o.size - base - 10);
  }
  return new TextEncoder().encode(JSON.stringify(review));
}

/** The AdmissionReview response in a reply body. */
export function responseOf(body: string): {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
} {
  return (JSON.parse(body) as { response: never }).response;
}
