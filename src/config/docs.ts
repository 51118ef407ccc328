/** The settings table of docs/configuration.md, generated from the schema (a test keeps the file in step). */
import { CONFIG_FILE_ENV, CONFIG_FILE_FLAG, SERVE_OPTIONS } from './schema.js';

function defaultText(d: unknown, kind: string): string {
  if (typeof d === 'function') return 'available cores';
  if (d === undefined) return '—';
  if (Array.isArray(d)) return d.length === 0 ? '[]' : d.join(', ');
  if (kind === 'duration' && typeof d === 'number') return d % 1000 === 0 ? `${d / 1000}s` : `${d}ms`;
  if (kind === 'bytes' && typeof d === 'number')
    return d % (1024 * 1024) === 0 ? `${d / (1024 * 1024)}Mi` : String(d);
  return String(d);
}

export function configurationTable(): string {
  const rows = [
    '| Flag | Environment | File key | Type | Default | Meaning |',
    '|---|---|---|---|---|---|',
    ...SERVE_OPTIONS.map(
      (s) =>
        `| \`--${s.flag}\` | \`${s.env}\` | \`${s.fileKey}\` | ${s.kind} | ${defaultText(s.default, s.kind)} | ${s.doc.replaceAll('|', '\\|')} |`,
    ),
    `| \`--${CONFIG_FILE_FLAG}\` | \`${CONFIG_FILE_ENV}\` | — | path | — | YAML or JSON file with any of the keys above. |`,
  ];
  return rows.join('\n');
}
