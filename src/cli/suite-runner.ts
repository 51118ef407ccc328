/**
 * Runs policy test cases through the server's own entry point: each case's AdmissionReview body goes to
 * an InlineEngine (decode → evaluate → encode, objects frozen), and the encoded response is checked
 * against `expect`. Mutation patches are decoded and applied like the API server would.
 */
import { isDeepStrictEqual } from 'node:util';
import { applyPatch } from '../engine/apply-patch.js';
import { compilePolicies } from '../engine/compile.js';
import { type EngineReply, InlineEngine } from '../engine/engine.js';
import { buildPolicySet, importPolicies } from '../engine/policy-set.js';
import type { CompiledPolicy, SourceDocument } from '../engine/types.js';
import { describeError, isTollgateError } from '../errors.js';
import { dump, indent, lineDiff } from './format.js';
import { findSuites, type LoadSuiteOptions, loadSuite, type Suite, type TestCase } from './suite.js';

export interface CaseResult {
  readonly suite: string;
  readonly name: string;
  readonly line: number;
  readonly passed: boolean;
  /** One entry per failed expectation, possibly multi-line (diffs). */
  readonly failures: readonly string[];
  readonly durationMs: number;
}

export interface RunnerOptions {
  readonly rules: string;
  /** Inventory objects added to every case (`--data`). */
  readonly data?: readonly SourceDocument[];
  readonly cacheDir?: string;
}

interface ResponseBody {
  response?: {
    uid?: unknown;
    allowed?: unknown;
    status?: { message?: unknown };
    warnings?: unknown;
    patch?: unknown;
    patchType?: unknown;
  };
}

const MAX_ENGINES = 256;

export class SuiteRunner {
  private readonly engines = new Map<string, Promise<InlineEngine>>();

  private constructor(
    readonly rules: string,
    private readonly compiled: readonly CompiledPolicy[],
    private readonly dirToPolicy: ReadonlyMap<string, string>,
    private readonly data: readonly SourceDocument[],
  ) {}

  /** Compile and load every policy under `rules` once (a compile error names file:line and is thrown). */
  static async create(opts: RunnerOptions): Promise<SuiteRunner> {
    const compiled = await compilePolicies(
      opts.rules,
      opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {},
    );
    const loaded = await importPolicies(compiled);
    // Once with every policy: duplicate names and aliases across the library are load errors.
    await buildPolicySet({ policies: compiled, bindings: [], data: [] });
    const dirs = new Map<string, string>();
    compiled.forEach((c, i) => {
      const p = loaded[i];
      if (p !== undefined) dirs.set(c.dir, p.name);
    });
    return new SuiteRunner(opts.rules, compiled, dirs, opts.data ?? []);
  }

  get loadOptions(): LoadSuiteOptions {
    return { rulesDir: this.rules, policyForDir: (d) => this.dirToPolicy.get(d), extraData: this.data };
  }

  findSuites(paths: readonly string[]): string[] {
    return findSuites(paths);
  }

  loadSuite(file: string): Suite {
    return loadSuite(file, this.loadOptions);
  }

  /** One engine per distinct set of bindings and inventory, shared by the cases that use it. */
  private engineFor(c: TestCase): Promise<InlineEngine> {
    const key = JSON.stringify([c.policyDir, c.bindings.map((d) => d.value), c.data.map((d) => d.value)]);
    let e = this.engines.get(key);
    if (e === undefined) {
      if (this.engines.size >= MAX_ENGINES) this.engines.clear();
      // A shorthand binding needs only its own policy: importing the whole library per set is wasted work.
      const policies =
        c.policyDir !== undefined ? this.compiled.filter((p) => p.dir === c.policyDir) : this.compiled;
      e = buildPolicySet({ policies, bindings: c.bindings, data: c.data }).then((set) =>
        InlineEngine.fromPolicySet(set, { freezeObjects: true }),
      );
      e.catch(() => this.engines.delete(key));
      this.engines.set(key, e);
    }
    return e;
  }

  async runCase(suite: Suite, c: TestCase): Promise<CaseResult> {
    const t0 = performance.now();
    const done = (failures: string[]): CaseResult => ({
      suite: suite.file,
      name: c.name,
      line: c.line,
      passed: failures.length === 0,
      failures,
      durationMs: performance.now() - t0,
    });
    let engine: InlineEngine;
    try {
      engine = await this.engineFor(c);
    } catch (e) {
      // A case may assert that its binding is rejected (e.g. parameters that do not match the schema).
      if (isTollgateError(e) && c.expect.error === e.code) {
        const others = Object.keys(c.expect).filter((k) => k !== 'error');
        return done(
          others.length
            ? [`the policy set did not load (${e.code}), so ${others.join(', ')} cannot hold`]
            : [],
        );
      }
      return done([
        `the policy set did not load: ${isTollgateError(e) ? `${e.message} [${e.code}]` : describeError(e)}`,
      ]);
    }
    let reply: EngineReply;
    try {
      reply = await engine.evaluate({ body: Buffer.from(c.body), endpoint: c.endpoint });
    } catch (e) {
      return done([`the engine threw: ${describeError(e)}`]);
    }
    return done(check(c, reply));
  }
}

const q = (s: string) => JSON.stringify(s);

/** Every failed expectation of a case, given the engine's reply. */
export function check(c: TestCase, reply: EngineReply): string[] {
  const want = c.expect;
  const failures: string[] = [];
  if (reply.status !== 200) {
    const code = reply.error?.code ?? 'unknown';
    if (want.error === code) {
      const others = Object.keys(want).filter((k) => k !== 'error');
      if (others.length)
        failures.push(
          `the engine answered HTTP ${reply.status} (${code}), so ${others.join(', ')} cannot hold`,
        );
    } else {
      failures.push(
        `the engine answered HTTP ${reply.status} ${code}: ${reply.error?.message ?? reply.body}`,
      );
    }
    return failures;
  }
  let body: ResponseBody;
  try {
    body = JSON.parse(reply.body) as ResponseBody;
  } catch (e) {
    return [`the response is not JSON: ${describeError(e)}`];
  }
  const res = body.response ?? {};
  if (c.uid !== undefined && res.uid !== c.uid)
    failures.push(`response.uid ${q(String(res.uid))} does not echo the request uid ${q(c.uid)}`);
  const allowed = res.allowed === true;
  const denial = typeof res.status?.message === 'string' ? res.status.message : '';
  const warnings = Array.isArray(res.warnings)
    ? res.warnings.filter((w): w is string => typeof w === 'string')
    : [];
  const evaluations = reply.decision?.evaluations ?? [];
  const violations = evaluations.flatMap((e) => e.violations);
  const describeActual = () => {
    const lines = [`allowed: ${allowed}`];
    if (denial) lines.push(`denial: ${denial}`);
    for (const w of warnings) lines.push(`warning: ${w}`);
    for (const e of evaluations)
      if (e.error) lines.push(`[${e.binding}] ${e.error.code}: ${e.error.message}`);
    return indent(lines.join('\n'), '  ');
  };

  if (want.allowed !== undefined && want.allowed !== allowed) {
    failures.push(`allowed: expected ${want.allowed}, got ${allowed}\n${describeActual()}`);
  }
  for (const m of want.messages ?? []) {
    if (!denial.includes(m)) {
      failures.push(
        allowed
          ? `messages: expected a denial containing ${q(m)}, but the request was allowed`
          : `messages: ${q(m)} is not in the denial ${q(denial)}`,
      );
    }
  }
  for (const m of want.notMessages ?? []) {
    if (denial.includes(m)) failures.push(`notMessages: ${q(m)} appears in the denial ${q(denial)}`);
  }
  for (const w of want.warnings ?? []) {
    if (!warnings.some((x) => x.includes(w))) {
      failures.push(
        `warnings: no warning contains ${q(w)} (warnings: ${warnings.length ? warnings.map(q).join(', ') : 'none'})`,
      );
    }
  }
  if (want.violations !== undefined && want.violations !== violations.length) {
    const list = violations.map((v) => `  - ${v.message}${v.path ? ` (${v.path})` : ''}`).join('\n');
    failures.push(
      `violations: expected ${want.violations}, got ${violations.length}${list ? `\n${list}` : ''}`,
    );
  }
  const paths = violations.map((v) => v.path).filter((p): p is string => p !== undefined);
  for (const p of want.paths ?? []) {
    if (!paths.includes(p))
      failures.push(
        `paths: no violation at ${q(p)} (paths: ${paths.length ? paths.map(q).join(', ') : 'none'})`,
      );
  }
  if (want.error !== undefined && !evaluations.some((e) => e.error?.code === want.error)) {
    const got = evaluations.flatMap((e) => (e.error ? [`${e.binding}: ${e.error.code}`] : []));
    failures.push(
      `error: no binding failed with ${want.error} (${got.length ? got.join(', ') : 'no binding failed'})`,
    );
  }
  if (want.patched !== undefined) {
    let patched: unknown = c.object;
    let ok = true;
    if (res.patch !== undefined) {
      if (res.patchType !== 'JSONPatch')
        failures.push(`patchType: expected "JSONPatch", got ${q(String(res.patchType))}`);
      try {
        const ops: unknown = JSON.parse(Buffer.from(String(res.patch), 'base64').toString('utf8'));
        patched = applyPatch(c.object, ops);
      } catch (e) {
        ok = false;
        failures.push(`patch: the returned patch does not apply: ${describeError(e)}`);
      }
    }
    if (ok && !isDeepStrictEqual(normalize(patched), normalize(want.patched))) {
      failures.push(
        `patched: the object after the patch differs (- expected, + actual)\n${indent(lineDiff(dump(want.patched), dump(patched)), '  ')}`,
      );
    }
  }
  return failures;
}

/** Compare as JSON values (key order and undefined members do not matter). */
function normalize(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}
