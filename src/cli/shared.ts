import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { LoadOptions } from '../engine/engine.js';
import { isTollgateError } from '../errors.js';

/** Flags every policy-evaluating command takes. */
export const SHARED_OPTIONS = {
  rules: { type: 'string', default: './rules' },
  config: { type: 'string', multiple: true, default: [] as string[] },
  data: { type: 'string', multiple: true, default: [] as string[] },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
}

export function loadOptionsFrom(values: { rules?: string; config?: string[]; data?: string[] }): LoadOptions {
  return { rules: values.rules ?? './rules', configs: values.config ?? [], data: values.data ?? [] };
}

/**
 * Report an error to stderr and give the exit code: 2 for bad input (files, flags, policies, bindings),
 * 70 for anything unexpected.
 */
export function reportError(command: string, e: unknown): number {
  if (isTollgateError(e)) {
    process.stderr.write(`tollgate ${command}: ${e.message} [${e.code}]\n`);
    return 2;
  }
  if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`tollgate ${command}: ${e.message}\n`);
    return 2;
  }
  process.stderr.write(`tollgate ${command}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 70;
}
