/**
 * Policy test suites (`*.test.yaml`, docs/policy-tests.md): discovery and parsing into cases that carry a
 * ready AdmissionReview body, the binding and inventory documents to load, and what to expect.
 * Every problem in a suite is reported at once, each naming file, line, case and field.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { OPERATIONS, type Operation } from '../admission/types.js';
import { BINDING_API_VERSION, BINDING_KIND } from '../engine/bindings.js';
import { parseDocuments } from '../engine/documents.js';
import type { Endpoint } from '../engine/engine.js';
import type { SourceDocument } from '../engine/types.js';
import { ERRORS, TollgateError } from '../errors.js';
import { buildReview, DEFAULT_USER } from './review.js';

export const SUITE_SUFFIXES = ['.test.yaml', '.test.yml'] as const;

export interface Expect {
  readonly allowed?: boolean;
  readonly messages?: readonly string[];
  readonly notMessages?: readonly string[];
  readonly warnings?: readonly string[];
  readonly violations?: number;
  readonly paths?: readonly string[];
  readonly patched?: unknown;
  readonly error?: string;
}

export interface TestCase {
  readonly name: string;
  /** Line of the case in the suite file. */
  readonly line: number;
  readonly endpoint: Endpoint;
  /** The AdmissionReview as JSON text, exactly what a webhook call would carry. */
  readonly body: string;
  /** The request uid, when the review has one (the response must echo it). */
  readonly uid: string | undefined;
  /** request.object as sent: what the returned patch applies to. */
  readonly object: unknown;
  readonly bindings: readonly SourceDocument[];
  readonly data: readonly SourceDocument[];
  /** Set when the case's only binding is the shorthand for its directory's policy: load just that one. */
  readonly policyDir: string | undefined;
  readonly expect: Expect;
}

export interface Suite {
  /** Path as given/relative to the current directory, for messages. */
  readonly file: string;
  readonly policy: string;
  readonly cases: readonly TestCase[];
}

/** Every suite file under the given paths (a suite file named directly is taken as is), sorted. */
export function findSuites(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, top: boolean) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (e) {
      throw new TollgateError('TOLLGATE_ERR_INPUT_UNREADABLE', `cannot read ${p}: ${(e as Error).message}`, {
        file: p,
      });
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.name.startsWith('.') || e.name === 'node_modules') continue;
        walk(join(p, e.name), false);
      }
    } else if (top || SUITE_SUFFIXES.some((s) => p.endsWith(s))) {
      out.push(p);
    }
  };
  for (const p of paths) walk(p, true);
  return [...new Set(out)];
}

/** The policy directory a suite file belongs to: `rules/<dir>/…/x.test.yaml` → `<dir>`. */
export function policyDirOf(file: string, rulesDir: string): string | undefined {
  const rel = relative(resolve(rulesDir), resolve(file));
  if (rel.startsWith('..') || rel === '' || resolve(rel) === rel) return undefined;
  const parts = rel.split(sep);
  return parts.length >= 2 ? parts[0] : undefined;
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

class Problems {
  readonly list: string[] = [];
  constructor(readonly file: string) {}
  add(line: number, where: string, msg: string): void {
    this.list.push(`${this.file}:${line}: ${where}${where ? ': ' : ''}${msg}`);
  }
  throwIfAny(): void {
    if (this.list.length > 0) {
      throw new TollgateError(
        'TOLLGATE_ERR_TEST_INVALID',
        `invalid test suite:\n  ${this.list.join('\n  ')}`,
        {
          file: this.file,
          problems: this.list,
        },
      );
    }
  }
}

const SUITE_KEYS = new Set(['policy', 'description', 'binding', 'bindings', 'data', 'cases']);
const CASE_KEYS = new Set([
  'name',
  'object',
  'objectFile',
  'review',
  'reviewFile',
  'operation',
  'oldObject',
  'oldObjectFile',
  'namespace',
  'userInfo',
  'dryRun',
  'parameters',
  'binding',
  'bindings',
  'data',
  'mutate',
  'expect',
]);
const BINDING_KEYS = new Set([
  'name',
  'parameters',
  'enforcementAction',
  'failurePolicy',
  'match',
  'timeoutMs',
]);
const EXPECT_KEYS = new Set([
  'allowed',
  'messages',
  'notMessages',
  'warnings',
  'violations',
  'paths',
  'patched',
  'error',
]);

export interface LoadSuiteOptions {
  /** The rules directory: a suite under `<rules>/<dir>/` tests that directory's policy by default. */
  readonly rulesDir: string;
  /** The policy name compiled from `<rules>/<dir>`, if there is one. */
  readonly policyForDir: (dir: string) => string | undefined;
  /** Inventory added to every case (from `--data`). */
  readonly extraData?: readonly SourceDocument[];
}

/** Read and check one suite file. Throws TOLLGATE_ERR_TEST_INVALID listing every problem, or an input error. */
export function loadSuite(path: string, opts: LoadSuiteOptions): Suite {
  const file = relative(process.cwd(), path) || path;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TollgateError('TOLLGATE_ERR_INPUT_UNREADABLE', `cannot read ${file}: ${(e as Error).message}`, {
      file,
    });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter: lines });
  const err = doc.errors[0];
  if (err !== undefined) {
    const line = err.linePos?.[0]?.line ?? 0;
    throw new TollgateError('TOLLGATE_ERR_INPUT_PARSE', `${file}:${line}: ${err.message.split('\n')[0]}`, {
      file,
      line,
    });
  }
  const p = new Problems(file);
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isRecord(root)) {
    p.add(1, '', 'a suite is a mapping with `cases:` (see docs/policy-tests.md)');
    p.throwIfAny();
  }
  const suite = root as Json;
  for (const k of Object.keys(suite))
    if (!SUITE_KEYS.has(k)) p.add(1, k, `unknown field (expected one of ${[...SUITE_KEYS].join(', ')})`);

  const dir = policyDirOf(path, opts.rulesDir);
  let policy = '';
  if (suite.policy !== undefined) {
    if (typeof suite.policy !== 'string' || suite.policy === '') p.add(1, 'policy', 'must be a policy name');
    else policy = suite.policy;
  } else {
    const fromDir = dir !== undefined ? opts.policyForDir(dir) : undefined;
    if (fromDir === undefined) {
      p.add(1, 'policy', `is required: ${file} is not inside a policy directory of ${opts.rulesDir}`);
    } else policy = fromDir;
  }

  const base = dirname(path);
  const casesNode = doc.get('cases', true) as Node | undefined;
  const lineAt = (n: unknown): number => {
    const r = (n as { range?: [number, number, number] } | undefined)?.range;
    return r ? lines.linePos(r[0]).line : 1;
  };
  if (!Array.isArray(suite.cases) || suite.cases.length === 0) {
    p.add(lineAt(casesNode), 'cases', 'must be a non-empty list');
    p.throwIfAny();
  }
  const suiteData = dataDocs(p, 1, 'data', suite.data, base, file);
  const cases: TestCase[] = [];
  const names = new Set<string>();
  (suite.cases as unknown[]).forEach((raw, i) => {
    const node = isSeq(casesNode) ? casesNode.items[i] : undefined;
    const line = lineAt(node);
    const label = `cases[${i}]${isRecord(raw) && typeof raw.name === 'string' ? ` (${raw.name})` : ''}`;
    const c = parseCase(p, line, label, raw, {
      suite,
      policy,
      ownDir: suite.policy === undefined ? dir : undefined,
      base,
      file,
      suiteData,
      extraData: opts.extraData ?? [],
    });
    if (c === undefined) return;
    if (names.has(c.name)) p.add(line, label, 'name is used by another case of this suite');
    names.add(c.name);
    cases.push(c);
  });
  p.throwIfAny();
  return { file, policy, cases };
}

interface CaseEnv {
  readonly suite: Json;
  readonly policy: string;
  /** The policy directory, when the policy was taken from it. */
  readonly ownDir: string | undefined;
  readonly base: string;
  readonly file: string;
  readonly suiteData: SourceDocument[];
  readonly extraData: readonly SourceDocument[];
}

/** One document from a file referenced by a case (relative to the suite file). */
function readOne(p: Problems, line: number, where: string, ref: unknown, base: string): unknown {
  if (typeof ref !== 'string' || ref === '') {
    p.add(line, where, 'must be a path relative to the suite file');
    return undefined;
  }
  const docs = readFileDocs(p, line, where, ref, base);
  if (docs === undefined) return undefined;
  if (docs.length !== 1) {
    p.add(line, where, `${ref} must hold exactly one document (it has ${docs.length})`);
    return undefined;
  }
  return docs[0]?.value;
}

function readFileDocs(
  p: Problems,
  line: number,
  where: string,
  ref: string,
  base: string,
): SourceDocument[] | undefined {
  const path = resolve(base, ref);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    p.add(line, where, `cannot read ${ref}: ${(e as Error).message}`);
    return undefined;
  }
  try {
    return parseDocuments(text, path);
  } catch (e) {
    p.add(line, where, (e as Error).message);
    return undefined;
  }
}

/** `data:` entries: inline objects, or paths of manifest files (relative to the suite) holding them. */
function dataDocs(
  p: Problems,
  line: number,
  where: string,
  v: unknown,
  base: string,
  file: string,
): SourceDocument[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(line, where, 'must be a list of objects or file paths');
    return [];
  }
  const out: SourceDocument[] = [];
  v.forEach((item: unknown, i: number) => {
    if (typeof item === 'string') out.push(...(readFileDocs(p, line, `${where}[${i}]`, item, base) ?? []));
    else if (isRecord(item)) out.push({ location: { file, doc: 0, line }, value: item });
    else p.add(line, `${where}[${i}]`, 'must be an object or a file path');
  });
  return out;
}

function stringList(p: Problems, line: number, where: string, v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    p.add(line, where, 'must be a list of strings');
    return undefined;
  }
  return v as string[];
}

function parseExpect(
  p: Problems,
  line: number,
  where: string,
  v: unknown,
  mutate: boolean,
): Expect | undefined {
  if (!isRecord(v)) {
    p.add(
      line,
      where,
      'is required: a mapping of allowed, messages, warnings, violations, paths, patched, error',
    );
    return undefined;
  }
  for (const k of Object.keys(v))
    if (!EXPECT_KEYS.has(k))
      p.add(line, `${where}.${k}`, `unknown field (expected one of ${[...EXPECT_KEYS].join(', ')})`);
  const e: { -readonly [K in keyof Expect]: Expect[K] } = {};
  if (v.allowed !== undefined) {
    if (typeof v.allowed !== 'boolean') p.add(line, `${where}.allowed`, 'must be true or false');
    else e.allowed = v.allowed;
  }
  for (const k of ['messages', 'notMessages', 'warnings', 'paths'] as const) {
    const l = stringList(p, line, `${where}.${k}`, v[k]);
    if (l !== undefined) e[k] = l;
  }
  if (v.violations !== undefined) {
    if (typeof v.violations !== 'number' || !Number.isInteger(v.violations) || v.violations < 0) {
      p.add(line, `${where}.violations`, 'must be a whole number (the exact count)');
    } else e.violations = v.violations;
  }
  if (v.patched !== undefined) {
    if (!mutate) p.add(line, `${where}.patched`, 'needs `mutate: true` on the case');
    else if (!isRecord(v.patched)) p.add(line, `${where}.patched`, 'must be the object after the patch');
    else e.patched = v.patched;
  }
  if (v.error !== undefined) {
    if (typeof v.error !== 'string' || !Object.hasOwn(ERRORS, v.error)) {
      p.add(line, `${where}.error`, 'must be an error code from docs/errors.md (TOLLGATE_ERR_…)');
    } else e.error = v.error;
  }
  if (Object.keys(v).length === 0) p.add(line, where, 'asserts nothing');
  return e;
}

/** The `binding:` shorthand merged (suite, then case, then case `parameters`) into a Binding document. */
function shorthandBinding(p: Problems, line: number, where: string, env: CaseEnv, c: Json): Json | undefined {
  const merged: Json = {};
  for (const [level, b] of [
    ['binding', env.suite.binding],
    [`${where}.binding`, c.binding],
  ] as const) {
    if (b === undefined || b === null) continue;
    if (!isRecord(b)) {
      p.add(line, level, 'must be a mapping');
      continue;
    }
    for (const k of Object.keys(b))
      if (!BINDING_KEYS.has(k))
        p.add(line, `${level}.${k}`, `unknown field (expected one of ${[...BINDING_KEYS].join(', ')})`);
    Object.assign(merged, b);
  }
  if (c.parameters !== undefined) merged.parameters = c.parameters;
  const name = merged.name ?? env.policy;
  const spec: Json = { policy: env.policy, parameters: merged.parameters ?? {} };
  for (const k of ['enforcementAction', 'failurePolicy', 'match', 'timeoutMs'] as const)
    if (merged[k] !== undefined) spec[k] = merged[k];
  return { apiVersion: BINDING_API_VERSION, kind: BINDING_KIND, metadata: { name }, spec };
}

function bindingDocs(p: Problems, line: number, where: string, env: CaseEnv, c: Json): SourceDocument[] {
  const full = c.bindings ?? env.suite.bindings;
  if (full === undefined) {
    const b = shorthandBinding(p, line, where, env, c);
    return b === undefined ? [] : [{ location: { file: env.file, doc: 0, line }, value: b }];
  }
  if (c.binding !== undefined || c.parameters !== undefined || env.suite.binding !== undefined) {
    p.add(
      line,
      where,
      'use either `bindings` (whole documents) or the `binding`/`parameters` shorthand, not both',
    );
  }
  return dataDocs(
    p,
    line,
    c.bindings !== undefined ? `${where}.bindings` : 'bindings',
    full,
    env.base,
    env.file,
  );
}

function parseCase(
  p: Problems,
  line: number,
  where: string,
  raw: unknown,
  env: CaseEnv,
): TestCase | undefined {
  if (!isRecord(raw)) {
    p.add(line, where, 'must be a mapping');
    return undefined;
  }
  for (const k of Object.keys(raw)) if (!CASE_KEYS.has(k)) p.add(line, `${where}.${k}`, 'unknown field');
  const name = raw.name;
  if (typeof name !== 'string' || name.trim() === '') p.add(line, `${where}.name`, 'is required');
  const mutate = raw.mutate === true;
  if (raw.mutate !== undefined && typeof raw.mutate !== 'boolean')
    p.add(line, `${where}.mutate`, 'must be true or false');

  const sources = ['object', 'objectFile', 'review', 'reviewFile'].filter((k) => raw[k] !== undefined);
  if (sources.length > 1)
    p.add(line, where, `give one of object, objectFile, review, reviewFile (got ${sources.join(', ')})`);

  let body: string | undefined;
  let uid: string | undefined;
  let object: unknown;
  if (raw.review !== undefined || raw.reviewFile !== undefined) {
    const review =
      raw.review !== undefined
        ? raw.review
        : readOne(p, line, `${where}.reviewFile`, raw.reviewFile, env.base);
    for (const k of ['operation', 'oldObject', 'oldObjectFile', 'namespace', 'userInfo', 'dryRun']) {
      if (raw[k] !== undefined)
        p.add(line, `${where}.${k}`, 'does not apply to a whole review (set it inside the review)');
    }
    body = JSON.stringify(review);
    const req = isRecord(review) && isRecord(review.request) ? review.request : undefined;
    uid = typeof req?.uid === 'string' ? req.uid : undefined;
    object = req?.object ?? null;
  } else {
    let operation: Operation = 'CREATE';
    if (raw.operation !== undefined) {
      if (typeof raw.operation !== 'string' || !OPERATIONS.includes(raw.operation as Operation)) {
        p.add(line, `${where}.operation`, `must be one of ${OPERATIONS.join(', ')}`);
      } else operation = raw.operation as Operation;
    }
    const obj =
      raw.object !== undefined
        ? raw.object
        : raw.objectFile !== undefined
          ? readOne(p, line, `${where}.objectFile`, raw.objectFile, env.base)
          : undefined;
    const old =
      raw.oldObject !== undefined
        ? raw.oldObject
        : raw.oldObjectFile !== undefined
          ? readOne(p, line, `${where}.oldObjectFile`, raw.oldObjectFile, env.base)
          : undefined;
    if (raw.oldObject !== undefined && raw.oldObjectFile !== undefined)
      p.add(line, where, 'give oldObject or oldObjectFile, not both');
    if (obj !== undefined && !isRecord(obj)) p.add(line, `${where}.object`, 'must be a Kubernetes object');
    if (old !== undefined && !isRecord(old)) p.add(line, `${where}.oldObject`, 'must be a Kubernetes object');
    // DELETE reviews carry the object being deleted as oldObject (request.object is null).
    const newObj = operation === 'DELETE' ? null : isRecord(obj) ? obj : null;
    const oldObj =
      operation === 'DELETE'
        ? isRecord(old)
          ? old
          : isRecord(obj)
            ? obj
            : null
        : isRecord(old)
          ? old
          : null;
    if (newObj === null && oldObj === null)
      p.add(line, where, 'needs an object (object, objectFile, review or reviewFile)');
    let namespace: string | undefined;
    if (raw.namespace !== undefined) {
      if (typeof raw.namespace !== 'string') p.add(line, `${where}.namespace`, 'must be a string');
      else namespace = raw.namespace === '' ? undefined : raw.namespace;
    } else {
      const ns = (newObj ?? oldObj)?.metadata;
      if (isRecord(ns) && typeof ns.namespace === 'string' && ns.namespace !== '') namespace = ns.namespace;
    }
    if (raw.userInfo !== undefined && !isRecord(raw.userInfo))
      p.add(line, `${where}.userInfo`, 'must be {username, groups}');
    if (raw.dryRun !== undefined && typeof raw.dryRun !== 'boolean')
      p.add(line, `${where}.dryRun`, 'must be true or false');
    uid = randomUUID();
    object = newObj;
    body = JSON.stringify(
      buildReview({
        uid,
        operation,
        object: newObj,
        oldObject: oldObj,
        namespace,
        userInfo: isRecord(raw.userInfo) ? raw.userInfo : DEFAULT_USER,
        dryRun: raw.dryRun === true,
      }),
    );
  }
  const bindings = bindingDocs(p, line, where, env, raw);
  const data =
    raw.data !== undefined ? dataDocs(p, line, `${where}.data`, raw.data, env.base, env.file) : env.suiteData;
  const expect = parseExpect(p, line, `${where}.expect`, raw.expect, mutate);
  if (typeof name !== 'string' || expect === undefined || body === undefined) return undefined;
  return {
    name,
    line,
    endpoint: mutate ? 'mutate' : 'validate',
    body,
    uid,
    object,
    bindings,
    data: [...env.extraData, ...data],
    policyDir: raw.bindings === undefined && env.suite.bindings === undefined ? env.ownDir : undefined,
    expect,
  };
}
