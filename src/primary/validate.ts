import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadOptions } from '../engine/engine.js';
import type { PolicySetSource } from '../engine/types.js';
import type { ErrorValue } from '../ipc/cluster-messages.js';

export type ValidationResult =
  | {
      readonly ok: true;
      readonly source: PolicySetSource;
      readonly bindings: number;
      readonly policies: number;
    }
  | { readonly ok: false; readonly error: ErrorValue };

const THREAD_FILE = `./validate-thread${extname(fileURLToPath(import.meta.url))}`;

/**
 * The thread's entry. From dist/ it is plain JS; under tsx (tests, `npm run tollgate` from source) a
 * thread does not inherit the TypeScript loader, so the entry registers it before importing the .ts file.
 */
function threadCode(): string {
  const url = new URL(THREAD_FILE, import.meta.url).href;
  if (THREAD_FILE.endsWith('.ts')) {
    return `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
  }
  return `import(${JSON.stringify(url)});`;
}

/**
 * Compile the rules, parse bindings and data, import every policy and build the policy set, on a
 * short-lived thread. Resolves with the plain PolicySetSource to send to workers, or an error value;
 * never rejects.
 */
export function validatePolicySet(opts: LoadOptions, timeoutMs = 60_000): Promise<ValidationResult> {
  return new Promise((resolve) => {
    let settled = false;
    const worker = new Worker(threadCode(), {
      eval: true,
      workerData: { ...opts, configs: [...opts.configs], data: [...opts.data] },
      resourceLimits: { maxOldGenerationSizeMb: 512 },
      stdout: false,
      stderr: false,
    });
    const finish = (r: ValidationResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      void worker.terminate();
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
    worker.once('message', (m: ValidationResult) => finish(m));
    worker.once('error', (e: Error) => {
      finish({
        ok: false,
        error: { code: 'TOLLGATE_ERR_INTERNAL', message: `validation thread failed: ${e.message}` },
      });
    });
    worker.once('exit', (code) => {
      finish({
        ok: false,
        error: { code: 'TOLLGATE_ERR_INTERNAL', message: `validation thread exited with code ${code}` },
      });
    });
  });
}
