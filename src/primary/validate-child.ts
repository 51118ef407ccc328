/**
 * A short-lived child process that compiles and validates a policy set for the primary: policy modules
 * are imported (and so run their top-level code) here, never in the primary. Takes its LoadOptions as
 * the first IPC message, sends one ValidationResult and exits; the primary kills it if it takes too long.
 */
import { type LoadOptions, loadSource } from '../engine/engine.js';
import { buildPolicySet } from '../engine/policy-set.js';
import { describeError, isTollgateError } from '../errors.js';
import type { ValidationResult } from './validate.js';

async function validate(opts: LoadOptions): Promise<ValidationResult> {
  try {
    const source = await loadSource(opts);
    const set = await buildPolicySet(source);
    // Workers import only what a binding can call: a policy no binding names costs every pool thread
    // its module and heap for nothing. It was still compiled and loaded here, so it is still checked.
    const bound = new Set(set.bindings.map((b) => b.loaded.source));
    const served = { ...source, policies: source.policies.filter((p) => bound.has(p.source)) };
    return { ok: true, source: served, bindings: set.bindings.length, policies: set.policies.size };
  } catch (e) {
    const code = isTollgateError(e) ? e.code : 'TOLLGATE_ERR_INTERNAL';
    return { ok: false, error: { code, message: describeError(e) } };
  }
}

process.once('message', (opts: LoadOptions) => {
  void validate(opts).then((result) => {
    process.send?.(result, () => process.disconnect());
  });
});
