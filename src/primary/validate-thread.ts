/**
 * A short-lived thread that compiles and validates a policy set for the primary: policy modules are
 * imported (and so run their top-level code) here, never on the primary's event loop. Posts one
 * ValidationResult and ends; the primary terminates it if it takes too long.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadOptions, loadSource } from '../engine/engine.js';
import { buildPolicySet } from '../engine/policy-set.js';
import { describeError, isTollgateError } from '../errors.js';
import type { ValidationResult } from './validate.js';

async function validate(opts: LoadOptions): Promise<ValidationResult> {
  try {
    const source = await loadSource(opts);
    const set = await buildPolicySet(source);
    return { ok: true, source, bindings: set.bindings.length, policies: set.policies.size };
  } catch (e) {
    const code = isTollgateError(e) ? e.code : 'TOLLGATE_ERR_INTERNAL';
    return { ok: false, error: { code, message: describeError(e) } };
  }
}

const result = await validate(workerData as LoadOptions);
parentPort?.postMessage(result);
