import { compilePolicies } from './compile.js';
import { readDocuments } from './documents.js';
import { type HandleOptions, handleRequest } from './handle.js';
import { buildPolicySet, type PolicySet } from './policy-set.js';
import type { Engine, EngineReply, EngineRequest } from './reply.js';
import type { PolicySetSource, SourceDocument } from './types.js';

export { type HandleOptions, handleRequest } from './handle.js';
export { type Endpoint, type Engine, type EngineReply, type EngineRequest, errorReply } from './reply.js';

export interface LoadOptions {
  /** Directory of policies (`rules/<name>/index.ts`). */
  readonly rules: string;
  /** Binding files or directories (Tollgate Bindings and Gatekeeper constraints). */
  readonly configs: readonly string[];
  /** Cluster objects (Namespaces and other inventory) for matching and referential policies. */
  readonly data: readonly string[];
  readonly cacheDir?: string;
}

/**
 * Binding documents among everything under `--config`: Tollgate's own group and Gatekeeper constraints.
 * Other objects (ConstraintTemplates, sample Pods kept beside bindings) are not bindings and are skipped;
 * a document in Tollgate's group that is not a valid Binding is still an error.
 */
function bindingDocs(docs: readonly SourceDocument[]): SourceDocument[] {
  return docs.filter((d) => {
    const v = d.value as { apiVersion?: unknown } | null;
    const av = typeof v === 'object' && v !== null && typeof v.apiVersion === 'string' ? v.apiVersion : '';
    return av.startsWith('tollgate.dev/') || av.startsWith('constraints.gatekeeper.sh/') || av === '';
  });
}

/** Read, compile and parse everything a policy set is made of, as plain data. */
export async function loadSource(opts: LoadOptions): Promise<PolicySetSource> {
  const [policies, bindings, data] = await Promise.all([
    compilePolicies(opts.rules, opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    Promise.resolve().then(() => bindingDocs(readDocuments(opts.configs))),
    Promise.resolve().then(() => readDocuments(opts.data)),
  ]);
  return { policies, bindings, data };
}

export async function loadPolicySet(opts: LoadOptions): Promise<PolicySet> {
  return buildPolicySet(await loadSource(opts));
}

/** Evaluates on the calling thread. Used by the CLI, the benchmarks' "inline" contestant and tests. */
export class InlineEngine implements Engine {
  private constructor(
    private readonly set: PolicySet,
    private readonly handleOpts: HandleOptions,
  ) {}

  static async create(opts: LoadOptions, handleOpts: HandleOptions = {}): Promise<InlineEngine> {
    return new InlineEngine(await loadPolicySet(opts), handleOpts);
  }

  static fromPolicySet(set: PolicySet, handleOpts: HandleOptions = {}): InlineEngine {
    return new InlineEngine(set, handleOpts);
  }

  get policySet(): PolicySet {
    return this.set;
  }

  evaluate(req: EngineRequest): Promise<EngineReply> {
    return handleRequest(this.set, req, this.handleOpts);
  }

  async close(): Promise<void> {}
}
