/**
 * `tollgate scan [files|dirs|-]`: evaluate manifests (multi-document YAML or JSON, `helm template` output
 * on stdin with `-`) as CREATE requests against the bindings from --config, through the server's own
 * entry point. A table (or `-o json`); exit 1 when anything is denied, 0 otherwise, 2 for bad input.
 */
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../admission/types.js';
import { parseDocuments, readDocuments } from '../engine/documents.js';
import { InlineEngine, loadSource } from '../engine/engine.js';
import { buildPolicySet } from '../engine/policy-set.js';
import type { EvaluationRecord, SourceDocument } from '../engine/types.js';
import { TollgateError } from '../errors.js';
import { table } from './format.js';
import { parseCommand, readAll, warnNoBindings, watchStdout, write } from './io.js';
import { asCreated, buildReview, DEFAULT_USER, isKubeObject } from './review.js';
import { loadOptionsFrom, reportError, SHARED_OPTIONS } from './shared.js';

const OPTIONS = {
  ...SHARED_OPTIONS,
  output: { type: 'string', short: 'o', default: 'table' },
  namespace: { type: 'string', short: 'n', default: 'default' },
} as const;

const USAGE = `usage: tollgate scan [files|dirs|-]... [flags]

Evaluates every manifest (multi-document YAML or JSON; '-' reads stdin, e.g. helm template … | tollgate scan -)
as a CREATE request against the bindings from --config. Namespaced objects without metadata.namespace are
created in --namespace, as kubectl would; cluster-scoped kinds have none. Namespaces among the manifests
join the --data inventory (for namespaceSelector matching), as if applied first.

flags:
  --rules DIR         policies (default ./rules)
  --config PATH       bindings / Gatekeeper constraints (repeatable; files or directories)
  --data PATH         cluster objects (Namespaces, …) for matching and referential policies (repeatable)
  -o, --output FMT    table (default) or json
  -n, --namespace NS  namespace for objects without one (default "default")
  --log-level LVL     trace|debug|info|warn|error|fatal|silent

exit: 0 nothing denied, 1 something denied, 2 unreadable or invalid input`;

export type RowDecision = 'allowed' | 'denied' | 'warned' | 'dryrun' | 'error';

export interface ScanRow {
  readonly binding: string;
  readonly policy?: string;
  readonly decision: RowDecision;
  readonly message: string;
  readonly path?: string;
}

export interface ScanResult {
  readonly source: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly allowed: boolean;
  readonly results: readonly ScanRow[];
  readonly warnings: readonly string[];
}

function rowsOf(evaluations: readonly EvaluationRecord[]): ScanRow[] {
  const rows: ScanRow[] = [];
  for (const e of evaluations) {
    const base = { binding: e.binding, policy: e.policy };
    const byAction: RowDecision = e.action === 'deny' ? 'denied' : e.action === 'warn' ? 'warned' : 'dryrun';
    if (e.error !== undefined) {
      const decision: RowDecision =
        e.action === 'dryrun'
          ? 'dryrun'
          : e.action === 'deny' && e.failurePolicy === 'deny'
            ? 'denied'
            : 'error';
      rows.push({ ...base, decision, message: `policy failed (${e.error.code}): ${e.error.message}` });
      continue;
    }
    for (const v of e.violations)
      rows.push({ ...base, decision: byAction, message: v.message, ...(v.path ? { path: v.path } : {}) });
    for (const w of e.warnings ?? []) rows.push({ ...base, decision: 'warned', message: w });
  }
  return rows;
}

function displayName(o: KubeObject): string {
  const m = o.metadata;
  if (typeof m?.name === 'string' && m.name !== '') return m.name;
  if (typeof m?.generateName === 'string' && m.generateName !== '') return `${m.generateName}*`;
  return '(unnamed)';
}

async function readInputs(paths: readonly string[]): Promise<SourceDocument[]> {
  const docs: SourceDocument[] = [];
  let stdinUsed = false;
  for (const p of paths) {
    if (p === '-') {
      if (stdinUsed)
        throw new TollgateError('TOLLGATE_ERR_INPUT_UNREADABLE', "'-' (stdin) can be given only once");
      stdinUsed = true;
      docs.push(...parseDocuments(await readAll(process.stdin), '<stdin>'));
    } else {
      docs.push(...readDocuments([p]));
    }
  }
  for (const d of docs) {
    if (!isKubeObject(d.value)) {
      const { file, line, doc } = d.location;
      throw new TollgateError(
        'TOLLGATE_ERR_INPUT_PARSE',
        `${file}:${line}: document ${doc + 1} is not a Kubernetes object (apiVersion and kind are required)`,
        { file, line, doc },
      );
    }
  }
  return docs;
}

export async function run(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand('scan', argv, OPTIONS, USAGE, (values) => {
    if (values.output !== 'table' && values.output !== 'json') {
      throw new TollgateError(
        'TOLLGATE_ERR_CONFIG_INVALID',
        `--output must be table or json (got ${JSON.stringify(values.output)})`,
      );
    }
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length === 0) {
    process.stderr.write(
      `tollgate scan: name the manifests to scan (files, directories, or - for stdin)\n\n${USAGE}\n`,
    );
    return 2;
  }
  watchStdout();
  const results: ScanResult[] = [];
  try {
    const docs = await readInputs(positionals);
    // Namespaces among the manifests join the inventory, as if applied first: a namespaceSelector then
    // sees the labels the chart gives them. Nothing else does (a referential policy would meet itself).
    const source = await loadSource(loadOptionsFrom(values));
    const namespaces = docs.filter(
      (d) => (d.value as KubeObject).kind === 'Namespace' && (d.value as KubeObject).apiVersion === 'v1',
    );
    const set = await buildPolicySet({
      ...source,
      data: [...source.data, ...namespaces.map((d) => ({ ...d, value: structuredClone(d.value) }))],
    });
    const engine = InlineEngine.fromPolicySet(set, { freezeObjects: true });
    if (engine.policySet.bindings.length === 0) warnNoBindings('scan');
    for (const d of docs) {
      const manifest = d.value as KubeObject & { apiVersion: string; kind: string };
      const { object, namespace } = asCreated(manifest, values.namespace);
      const body = JSON.stringify(
        buildReview({
          uid: randomUUID(),
          operation: 'CREATE',
          object,
          oldObject: null,
          namespace,
          userInfo: DEFAULT_USER,
        }),
      );
      const reply = await engine.evaluate({ body: Buffer.from(body), endpoint: 'validate' });
      const source = `${d.location.file}:${d.location.line}`;
      if (reply.status !== 200) {
        throw new TollgateError(
          'TOLLGATE_ERR_INPUT_PARSE',
          `${source}: ${reply.error?.message ?? 'not a valid object'} (${reply.error?.code ?? reply.status})`,
          {
            file: d.location.file,
            line: d.location.line,
          },
        );
      }
      const response = (JSON.parse(reply.body) as { response: { allowed: boolean; warnings?: string[] } })
        .response;
      const rows = rowsOf(reply.decision?.evaluations ?? []);
      results.push({
        source,
        apiVersion: manifest.apiVersion,
        kind: manifest.kind,
        ...(namespace !== undefined ? { namespace } : {}),
        name: displayName(object),
        allowed: response.allowed === true,
        results: rows,
        warnings: response.warnings ?? [],
      });
    }
    await engine.close();
  } catch (e) {
    return reportError('scan', e);
  }
  const denied = results.filter((r) => !r.allowed).length;
  const summary = { objects: results.length, allowed: results.length - denied, denied };
  if (values.output === 'json') {
    await write(process.stdout, `${JSON.stringify({ objects: results, summary }, null, 2)}\n`);
  } else {
    const rows: string[][] = [];
    for (const r of results) {
      const obj = `${r.kind} ${r.namespace !== undefined ? `${r.namespace}/` : ''}${r.name}`;
      if (r.results.length === 0) rows.push([obj, '-', r.allowed ? 'allowed' : 'denied', '']);
      for (const row of r.results) rows.push([obj, row.binding, row.decision, row.message]);
    }
    const text = rows.length > 0 ? `${table(['OBJECT', 'BINDING', 'DECISION', 'MESSAGE'], rows)}\n\n` : '';
    await write(
      process.stdout,
      `${text}${summary.objects} object${summary.objects === 1 ? '' : 's'}: ${summary.allowed} allowed, ${summary.denied} denied\n`,
    );
  }
  return denied > 0 ? 1 : 0;
}
