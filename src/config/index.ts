/**
 * The configuration loader: defaults < config file < environment < flags, validated once (every problem
 * reported together, TOLLGATE_ERR_CONFIG_INVALID), then frozen. This is the only module that reads
 * `process.env`.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { describeError, TollgateError } from '../errors.js';
import {
  CONFIG_FILE_ENV,
  CONFIG_FILE_FLAG,
  LOG_LEVELS,
  type OptionSpec,
  SERVE_OPTIONS,
  type ServeConfig,
} from './schema.js';
import { parseBytes, parseGoDuration } from './units.js';

export { LOG_LEVELS, type LogLevel, type OptionSpec, SERVE_OPTIONS, type ServeConfig } from './schema.js';
export { parseBytes, parseGoDuration } from './units.js';

export interface LoadInput {
  /** Arguments after `serve`. */
  readonly argv: readonly string[];
  /** Defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface LoadResult {
  readonly config: ServeConfig;
  /** `--help` was given: print serveUsage() instead of serving. */
  readonly help: boolean;
}

type Source = 'default' | 'file' | 'env' | 'flag';
type Raw = { value: unknown; source: Source; where: string };

function flagOptions(): NonNullable<Parameters<typeof parseArgs>[0]>['options'] {
  const o: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    [CONFIG_FILE_FLAG]: { type: 'string' },
  };
  for (const s of SERVE_OPTIONS) {
    if (s.kind === 'bool') {
      o[s.flag] = { type: 'boolean' };
      o[`no-${s.flag}`] = { type: 'boolean' };
    } else if (s.kind === 'list') {
      o[s.flag] = { type: 'string', multiple: true };
    } else {
      o[s.flag] = { type: 'string' };
    }
  }
  return o;
}

function describeSource(spec: OptionSpec, raw: Raw): string {
  switch (raw.source) {
    case 'flag':
      return `--${spec.flag}`;
    case 'env':
      return spec.env;
    case 'file':
      return `${raw.where}: ${spec.fileKey}`;
    default:
      return `${spec.fileKey} (default)`;
  }
}

function coerce(spec: OptionSpec, raw: Raw, problems: string[]): unknown {
  const where = describeSource(spec, raw);
  const v = raw.value;
  const fail = (expected: string): undefined => {
    problems.push(`${where}: expected ${expected}, got ${JSON.stringify(v)}`);
    return undefined;
  };
  const inRange = (n: number, unit = ''): number | undefined => {
    if (spec.min !== undefined && n < spec.min) return fail(`at least ${spec.min}${unit}`);
    if (spec.max !== undefined && n > spec.max) return fail(`at most ${spec.max}${unit}`);
    return n;
  };
  switch (spec.kind) {
    case 'string':
    case 'path':
      if (typeof v !== 'string' || v.length === 0) return fail('a non-empty string');
      return v;
    case 'level':
      if (typeof v !== 'string' || !(LOG_LEVELS as readonly string[]).includes(v))
        return fail(`one of ${LOG_LEVELS.join(', ')}`);
      return v;
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string' && /^(true|1|yes)$/i.test(v)) return true;
      if (typeof v === 'string' && /^(false|0|no)$/i.test(v)) return false;
      return fail('true or false');
    case 'int': {
      const n =
        typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
      if (!Number.isSafeInteger(n)) return fail('an integer');
      return inRange(n);
    }
    case 'bytes': {
      const n = typeof v === 'number' ? v : typeof v === 'string' ? parseBytes(v) : undefined;
      if (n === undefined || !Number.isSafeInteger(n)) return fail('a byte size such as 8Mi or 8388608');
      return inRange(n, ' bytes');
    }
    case 'duration': {
      const n = typeof v === 'number' ? v : typeof v === 'string' ? parseGoDuration(v) : undefined;
      if (n === undefined || !Number.isFinite(n)) return fail('a duration such as 10s, 1m30s or 250ms');
      return inRange(Math.round(n), ' ms');
    }
    case 'list': {
      const list = typeof v === 'string' ? v.split(',') : v;
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) return fail('a list of strings');
      return Object.freeze(list.map((x: string) => x.trim()).filter((x: string) => x.length > 0));
    }
  }
}

function readConfigFile(path: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    problems.push(`--${CONFIG_FILE_FLAG}: cannot read ${path}: ${describeError(e)}`);
    return {};
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    problems.push(`${path}: not valid YAML/JSON: ${describeError(e)}`);
    return {};
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`${path}: expected a mapping of settings`);
    return {};
  }
  const known = new Set<string>(SERVE_OPTIONS.map((s) => s.fileKey));
  for (const k of Object.keys(doc)) {
    if (!known.has(k))
      problems.push(`${path}: unknown setting ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
  }
  return doc as Record<string, unknown>;
}

function checkReadable(
  path: string | undefined,
  what: string,
  problems: string[],
  kind: 'file' | 'dir',
): void {
  if (path === undefined) return;
  try {
    const st = statSync(path);
    if (kind === 'file' && !st.isFile()) problems.push(`${what}: ${path} is not a file`);
    if (kind === 'dir' && !st.isDirectory()) problems.push(`${what}: ${path} is not a directory`);
    accessSync(path, constants.R_OK);
  } catch (e) {
    problems.push(`${what}: cannot read ${path}: ${describeError(e)}`);
  }
}

/** Load, validate and freeze the `serve` configuration. Throws TOLLGATE_ERR_CONFIG_INVALID listing every problem. */
export function loadServeConfig(input: LoadInput): LoadResult {
  const env = input.env ?? process.env;
  const problems: string[] = [];
  let flags: Record<string, unknown> = {};
  try {
    const parsed = parseArgs({
      args: [...input.argv],
      options: flagOptions(),
      allowPositionals: true,
      strict: true,
    });
    flags = parsed.values as Record<string, unknown>;
    if (parsed.positionals.length > 0) problems.push(`unexpected arguments: ${parsed.positionals.join(' ')}`);
  } catch (e) {
    problems.push(describeError(e));
  }
  const help = flags.help === true;

  const filePath = (flags[CONFIG_FILE_FLAG] as string | undefined) ?? env[CONFIG_FILE_ENV];
  const file = filePath !== undefined && filePath !== '' ? readConfigFile(filePath, problems) : {};

  const out: Record<string, unknown> = {};
  for (const spec of SERVE_OPTIONS) {
    let raw: Raw = {
      value: typeof spec.default === 'function' ? spec.default() : spec.default,
      source: 'default',
      where: '',
    };
    if (Object.hasOwn(file, spec.fileKey))
      raw = { value: file[spec.fileKey], source: 'file', where: filePath ?? '' };
    const e = env[spec.env];
    if (e !== undefined && e !== '') raw = { value: e, source: 'env', where: spec.env };
    const f = flags[spec.flag];
    if (spec.kind === 'bool' && flags[`no-${spec.flag}`] === true)
      raw = { value: false, source: 'flag', where: '' };
    else if (f !== undefined && !(Array.isArray(f) && f.length === 0))
      raw = { value: f, source: 'flag', where: '' };
    out[spec.key] = raw.value === undefined ? undefined : coerce(spec, raw, problems);
  }
  const c = out as unknown as ServeConfig;

  if (!help) {
    if (!c.insecureHttp) {
      if (c.tlsCert === undefined)
        problems.push('--tls-cert is required (or --insecure-http for local development)');
      if (c.tlsKey === undefined)
        problems.push('--tls-key is required (or --insecure-http for local development)');
    }
    if (c.insecureHttp && (c.tlsCert !== undefined || c.tlsKey !== undefined)) {
      problems.push('--insecure-http cannot be combined with --tls-cert/--tls-key');
    }
    checkReadable(c.tlsCert, '--tls-cert', problems, 'file');
    checkReadable(c.tlsKey, '--tls-key', problems, 'file');
    checkReadable(c.authTokenFile, '--auth-token-file', problems, 'file');
    if (c.authTokenFile !== undefined && problems.every((p) => !p.startsWith('--auth-token-file'))) {
      if (readFileSync(c.authTokenFile, 'utf8').trim().length === 0)
        problems.push(`--auth-token-file: ${c.authTokenFile} is empty`);
    }
    checkReadable(c.rules, '--rules', problems, 'dir');
    if (
      typeof c.defaultTimeoutMs === 'number' &&
      typeof c.maxTimeoutMs === 'number' &&
      c.defaultTimeoutMs > c.maxTimeoutMs
    ) {
      problems.push('--default-timeout must not exceed --max-timeout');
    }
    if (c.metricsPort !== 0 && c.metricsPort === c.port && c.port !== 0) {
      problems.push(`--metrics-port and --port are both ${c.port}`);
    }
  }
  if (problems.length > 0) {
    throw new TollgateError(
      'TOLLGATE_ERR_CONFIG_INVALID',
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
      { problems },
    );
  }
  return { config: Object.freeze(c), help };
}

/** `tollgate serve --help`, generated from the schema. */
export function serveUsage(): string {
  const lines = [
    'usage: tollgate serve [flags]',
    '',
    'flags (each also settable by environment variable or config file key):',
  ];
  for (const s of SERVE_OPTIONS) {
    const d =
      typeof s.default === 'function'
        ? '(machine)'
        : s.default === undefined
          ? ''
          : JSON.stringify(s.default);
    lines.push(
      `  --${s.flag}${s.kind === 'bool' ? '' : ' VALUE'}`.padEnd(28) +
        `${s.doc}${d ? ` [${d}]` : ''}  (${s.env})`,
    );
  }
  lines.push(
    `  --${CONFIG_FILE_FLAG} PATH`.padEnd(28) +
      `YAML/JSON file of settings (keys as in docs/configuration.md)  (${CONFIG_FILE_ENV})`,
  );
  lines.push('', 'precedence: defaults < config file < environment < flags');
  return lines.join('\n');
}
