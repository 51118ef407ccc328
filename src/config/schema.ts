/**
 * The one description of every `tollgate serve` setting: its type, default, flag, environment variable,
 * config-file key and meaning. The loader, `--help` and docs/configuration.md all come from this table.
 */
import { availableParallelism } from 'node:os';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The resolved, validated, frozen configuration of `tollgate serve`. */
export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  readonly threads: number;
  readonly maxQueue: number;
  readonly semiSpaceMb: number;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly insecureHttp: boolean;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly rules: string;
  readonly configs: readonly string[];
  readonly data: readonly string[];
  readonly cacheDir: string | undefined;
  readonly logLevel: LogLevel;
  readonly bodyLimitBytes: number;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly timeoutMarginMs: number;
  readonly authTokenFile: string | undefined;
  readonly gracePeriodMs: number;
  readonly drainLingerMs: number;
  readonly watch: boolean;
}

export type OptionKind = 'string' | 'path' | 'int' | 'bool' | 'bytes' | 'duration' | 'list' | 'level';

export interface OptionSpec {
  readonly key: keyof ServeConfig;
  /** The key in a config file: the flag in camelCase (`body-limit` -> `bodyLimit`). */
  readonly fileKey: string;
  /** Long flag without the dashes. */
  readonly flag: string;
  readonly env: string;
  readonly kind: OptionKind;
  /** A function for defaults that depend on the machine. */
  readonly default: unknown;
  readonly min?: number;
  readonly max?: number;
  readonly doc: string;
}

const MiB = 1024 * 1024;

function env(flag: string): string {
  return `TOLLGATE_${flag.toUpperCase().replaceAll('-', '_')}`;
}

function opt(
  key: keyof ServeConfig,
  flag: string,
  kind: OptionKind,
  dflt: unknown,
  doc: string,
  range: { min?: number; max?: number } = {},
): OptionSpec {
  const fileKey = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return { key, fileKey, flag, env: env(flag), kind, default: dflt, doc, ...range };
}

export const SERVE_OPTIONS: readonly OptionSpec[] = [
  opt('host', 'host', 'string', '0.0.0.0', 'Address the webhook listens on.'),
  opt('port', 'port', 'int', 8443, 'Webhook port; every worker listens on it (SO_REUSEPORT).', {
    min: 0,
    max: 65535,
  }),
  opt(
    'workers',
    'workers',
    'int',
    () => availableParallelism(),
    'Worker processes (default: available cores).',
    {
      min: 1,
      max: 256,
    },
  ),
  opt(
    'threads',
    'threads',
    'int',
    1,
    'Policy evaluation threads per worker (piscina pool); one worker per core with one thread each is as fast as two threads and uses ~60 MB less.',
    {
      min: 1,
      max: 64,
    },
  ),
  opt(
    'maxQueue',
    'max-queue',
    'int',
    1024,
    'Evaluations that may wait for a thread per worker before failing fast (503).',
    {
      min: 1,
      max: 1_000_000,
    },
  ),
  opt(
    'semiSpaceMb',
    'semi-space',
    'int',
    2,
    "V8 semi-space size in MB of every isolate that serves requests (worker event loops and pool threads; young generation = 3x), from the start: V8 would begin at 1 MB and, as request garbage dies young, stay there. Measured on one core at saturation: 1 MB 35.1 µs CPU per request and a 82 MB worker, 2 MB 34.1 µs and 86 MB, 4 MB 33.9 µs and 92 MB; V8's default (16 MB) makes a worker ~40 MB larger.",
    { min: 1, max: 64 },
  ),
  opt(
    'tlsCert',
    'tls-cert',
    'path',
    undefined,
    'PEM serving certificate (chain). Required unless --insecure-http.',
  ),
  opt('tlsKey', 'tls-key', 'path', undefined, 'PEM private key of the serving certificate.'),
  opt('insecureHttp', 'insecure-http', 'bool', false, 'Development only: serve plain HTTP instead of TLS.'),
  opt(
    'metricsHost',
    'metrics-host',
    'string',
    '0.0.0.0',
    'Address of the Prometheus /metrics endpoint (primary).',
  ),
  opt(
    'metricsPort',
    'metrics-port',
    'int',
    9090,
    'Port of the Prometheus /metrics endpoint (0 disables it).',
    {
      min: 0,
      max: 65535,
    },
  ),
  opt('rules', 'rules', 'path', './rules', 'Directory of policies (rules/<name>/index.ts).'),
  opt('configs', 'config', 'list', [], 'Binding files or directories (repeatable; comma-separated in env).'),
  opt(
    'data',
    'data',
    'list',
    [],
    'Cluster objects (Namespaces, inventory) files or directories (repeatable).',
  ),
  opt(
    'cacheDir',
    'cache-dir',
    'path',
    undefined,
    'Where compiled policy bundles are written (default: a temp dir).',
  ),
  opt('logLevel', 'log-level', 'level', 'info', `Log level: ${LOG_LEVELS.join(', ')}.`),
  opt(
    'bodyLimitBytes',
    'body-limit',
    'bytes',
    8 * MiB,
    'Largest request body accepted (413 above it): 8Mi, 8388608.',
    {
      min: 1024,
      max: 1024 * MiB,
    },
  ),
  opt(
    'defaultTimeoutMs',
    'default-timeout',
    'duration',
    10_000,
    'Deadline when a request has no valid ?timeout=.',
    {
      min: 100,
      max: 300_000,
    },
  ),
  opt(
    'maxTimeoutMs',
    'max-timeout',
    'duration',
    30_000,
    'Upper bound for ?timeout= (the API server sends at most 30s).',
    {
      min: 100,
      max: 300_000,
    },
  ),
  opt(
    'timeoutMarginMs',
    'timeout-margin',
    'duration',
    200,
    'Kept from the deadline for encoding and the network.',
    {
      min: 0,
      max: 10_000,
    },
  ),
  opt(
    'authTokenFile',
    'auth-token-file',
    'path',
    undefined,
    'File with a bearer token every webhook call must carry.',
  ),
  opt(
    'gracePeriodMs',
    'grace-period',
    'duration',
    25_000,
    'On SIGTERM, how long in-flight requests may take.',
    {
      min: 0,
      max: 600_000,
    },
  ),
  opt(
    'drainLingerMs',
    'drain-linger',
    'duration',
    2_000,
    'After draining, keep answering (with Connection: close) until no request came for this long, so pooled keep-alive connections close cleanly; 12s covers uWS idle closes.',
    { min: 0, max: 600_000 },
  ),
  opt('watch', 'watch', 'bool', true, 'Hot-reload policies, bindings and data when their files change.'),
];

/** The flag naming the config file itself (YAML or JSON object of the keys above). */
export const CONFIG_FILE_FLAG = 'config-file';
export const CONFIG_FILE_ENV = 'TOLLGATE_CONFIG_FILE';
