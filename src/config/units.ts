/** Value parsers shared by the config loader and the server: Go durations and byte sizes. */

const GO_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parse a Go `time.Duration` string (`10s`, `1m0s`, `1.5s`, `300ms`, `0`) into milliseconds, or undefined
 * when it is not one. The API server serialises `?timeout=` with `Duration.String()`.
 */
export function parseGoDuration(text: string): number | undefined {
  let s = text.trim();
  if (s === '0') return 0;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s.length === 0) return undefined;
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (m === null) return undefined;
    const unit = GO_UNITS[m[2] as string];
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    s = s.slice(m[0].length);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  ki: 1024,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parse a byte size: `8388608`, `8Mi`, `8MiB`, `512k`, `1.5Mi`. Undefined when it is not one. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (m === null) return undefined;
  const unit = BYTE_UNITS[(m[2] as string).toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}
