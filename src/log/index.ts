/**
 * Logging the pino way: one JSON line per event, object first and message second. The destination is
 * asynchronous (SonicBoom buffers and writes off the request path), so logging never blocks a response;
 * call flushLogs() before exiting. Never log whole objects or reviews: Secrets travel in them.
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger } from 'pino';

let destination: ReturnType<typeof pino.destination> | undefined;

/** Paths that must never reach a log line even if someone passes a whole request by mistake. */
const REDACT = [
  'object',
  'oldObject',
  'request.object',
  'request.oldObject',
  'review',
  'body',
  'token',
  'authorization',
  'headers.authorization',
];

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  destination ??= pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Write out what is buffered (before process.exit). Safe to call when nothing was logged. */
export function flushLogs(): void {
  try {
    destination?.flushSync();
  } catch {
    // flushSync throws while the destination is still opening; nothing was buffered then.
  }
}
