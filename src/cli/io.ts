/** Small I/O helpers shared by the offline commands. */
import type { Readable, Writable } from 'node:stream';
import type { ParseArgsConfig } from 'node:util';
import { TollgateError } from '../errors.js';
import { parseCommandArgs, reportError } from './shared.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function checkLogLevel(level: string): void {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new TollgateError(
      'TOLLGATE_ERR_CONFIG_INVALID',
      `--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`,
    );
  }
}

/** All of a stream as UTF-8 text (scan reads whole manifests; eval streams line by line instead). */
export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Write, waiting for 'drain' when the stream's buffer is full (stdout piped to a slow reader). */
export function write(stream: Writable, text: string): Promise<void> | undefined {
  if (stream === process.stdout && stdoutClosed) return undefined;
  if (stream.write(text)) return undefined;
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (e: NodeJS.ErrnoException) => {
      stream.off('drain', onDrain);
      if (e.code === 'EPIPE') resolve();
      else reject(e);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}

/** Said on stderr, never silently: without bindings every request is allowed. */
export function warnNoBindings(command: string): void {
  process.stderr.write(
    `tollgate ${command}: warning: no bindings loaded (give --config); every request will be allowed\n`,
  );
}

let stdoutClosed = false;
const closeListeners: (() => void)[] = [];

/**
 * A reader that goes away (`tollgate eval | head -1`) is not an error: stop writing and wind down quietly
 * instead of dying on EPIPE. Other stdout errors still surface.
 */
export function watchStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutClosed = true;
    for (const l of closeListeners.splice(0)) l();
  });
}

export function isStdoutClosed(): boolean {
  return stdoutClosed;
}

export function onStdoutClosed(listener: () => void): void {
  if (stdoutClosed) listener();
  else closeListeners.push(listener);
}

type Parsed<O extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseCommandArgs<O>>;

/**
 * The prologue every offline command shares: parse its flags, check `--log-level` (and whatever `check`
 * adds), print the usage for `--help`. Returns the parsed flags, or the exit code to return at once.
 */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: readonly string[],
  options: O,
  usage: string,
  check?: (values: Parsed<O>['values']) => void,
): Parsed<O> | number {
  let parsed: Parsed<O>;
  try {
    parsed = parseCommandArgs(argv, options);
    const shared = parsed.values as { 'log-level'?: unknown; help?: unknown };
    checkLogLevel(String(shared['log-level'] ?? 'info'));
    check?.(parsed.values);
  } catch (e) {
    return reportError(command, e);
  }
  if ((parsed.values as { help?: unknown }).help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return parsed;
}
