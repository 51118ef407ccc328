import { fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions } from '../engine/engine.js';
import type { PolicySetSource } from '../engine/types.js';
import type { ErrorValue } from '../ipc/cluster-messages.js';

export type ValidationResult =
  | {
      readonly ok: true;
      /** What workers serve: the bindings and data, and the policies a binding names. */
      readonly source: PolicySetSource;
      readonly bindings: number;
      readonly policies: number;
    }
  | { readonly ok: false; readonly error: ErrorValue };

const CHILD_FILE = fileURLToPath(
  new URL(`./validate-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

/**
 * Compile the rules, parse bindings and data, import every policy and build the policy set, in a
 * short-lived child process. A process rather than a thread: importing esbuild, ajv and every policy
 * costs the primary ~10 MB that a finished thread never gives back, and the primary lives for the whole
 * deployment. Resolves with the plain PolicySetSource to send to workers, or an error value; never rejects.
 */
export function validatePolicySet(opts: LoadOptions, timeoutMs = 60_000): Promise<ValidationResult> {
  return new Promise((resolve) => {
    let settled = false;
    // The primary's flags carry over (under tsx: its TypeScript loader); heap bounded like a thread's was.
    const child = fork(CHILD_FILE, [], {
      execArgv: [...process.execArgv, '--max-old-space-size=512', '--max-semi-space-size=1'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const finish = (r: ValidationResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      finish({
        ok: false,
        error: {
          code: 'TOLLGATE_ERR_POLICY_TIMEOUT',
          message: `policy set validation took longer than ${timeoutMs} ms`,
        },
      });
    }, timeoutMs);
    child.once('message', (m: ValidationResult) => finish(m));
    child.once('error', (e: Error) => {
      finish({
        ok: false,
        error: { code: 'TOLLGATE_ERR_INTERNAL', message: `validation process failed: ${e.message}` },
      });
    });
    child.once('exit', (code, signal) => {
      finish({
        ok: false,
        error: {
          code: 'TOLLGATE_ERR_INTERNAL',
          message: `validation process exited with ${signal ?? `code ${code}`} before answering`,
        },
      });
    });
    child.send({ ...opts, configs: [...opts.configs], data: [...opts.data] });
  });
}
