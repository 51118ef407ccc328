import type { AdmissionResponse, ReviewApiVersion } from './types.js';

/** API server limits on warnings (../shared/ADMISSION.md §3.5). */
export const WARNING_MAX_RUNES = 256;
export const WARNINGS_TOTAL_MAX_RUNES = 4096;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function truncateRunes(s: string, max: number): string {
  const runes = Array.from(s);
  if (runes.length <= max) return s;
  return `${runes.slice(0, max - 1).join('')}…`;
}

/**
 * Warnings the API server will keep: no control characters (it silently drops those), at most 256 runes
 * each, duplicates collapsed, total within 4096 runes (later ones dropped).
 */
export function sanitizeWarnings(warnings: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const w of warnings) {
    const clean = truncateRunes(w.replace(CONTROL, ' ').toWellFormed().trim(), WARNING_MAX_RUNES);
    if (clean.length === 0 || seen.has(clean)) continue;
    const n = Array.from(clean).length;
    if (total + n > WARNINGS_TOTAL_MAX_RUNES) break;
    seen.add(clean);
    out.push(clean);
    total += n;
  }
  return out;
}

/** Serialise the response, echoing the request's apiVersion (§6: always answer in the version received). */
export function encodeReview(apiVersion: ReviewApiVersion, response: AdmissionResponse): string {
  return JSON.stringify({ apiVersion, kind: 'AdmissionReview', response });
}

/** A metav1.Status body for non-2xx answers (§3.1: the API server decodes it into a readable error). */
export function encodeStatus(code: number, reason: string, message: string): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
}

/** The HTTP reason word for the status codes Tollgate emits. */
export function statusReason(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 413:
      return 'RequestEntityTooLarge';
    case 415:
      return 'UnsupportedMediaType';
    case 429:
      return 'TooManyRequests';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return 'InternalError';
  }
}
