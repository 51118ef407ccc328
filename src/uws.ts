/**
 * Loads the native uWebSockets.js binding and refuses to go on without it. The package silently falls
 * back to a pure-JS implementation when its binary does not load (wrong Node ABI, missing file, or
 * UWS_USE_FALLBACK set); serving on that substitute would be many times slower without anyone noticing,
 * so we compare the module with the binary for this platform/ABI and stop with a clear error instead.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describeError, TollgateError } from './errors.js';

export type * as Uws from 'uWebSockets.js';

type UwsModule = typeof import('uWebSockets.js');

const require = createRequire(import.meta.url);
let loaded: UwsModule | undefined;

/** The expected binary path for this process: `binaries/uws_<platform>_<arch>_<abi>.node`. */
export function nativeBindingPath(): string {
  const entry = require.resolve('uWebSockets.js');
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return join(dirname(entry), '..', 'binaries', name);
}

export function loadUws(): UwsModule {
  if (loaded !== undefined) return loaded;
  const binary = nativeBindingPath();
  let native: unknown;
  try {
    native = require(binary);
  } catch (e) {
    throw new TollgateError(
      'TOLLGATE_ERR_UWS_NATIVE',
      `the native uWebSockets.js binding does not load for ${process.platform}-${process.arch} Node ABI ${process.versions.modules} (${binary}): ${describeError(e)}; install a uWebSockets.js build for this Node.js version (Tollgate will not serve on the slow JS fallback)`,
    );
  }
  const mod = require('uWebSockets.js') as UwsModule;
  if (mod !== native) {
    throw new TollgateError(
      'TOLLGATE_ERR_UWS_NATIVE',
      'uWebSockets.js loaded its JavaScript fallback instead of the native binding (is UWS_USE_FALLBACK set?); unset it: Tollgate will not serve on the slow JS fallback',
    );
  }
  loaded = mod;
  return mod;
}
