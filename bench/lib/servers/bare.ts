// Contestant "bare": a uWebSockets.js TLS server that reads the whole body and answers a constant
// AdmissionReview. No decoding, no policy: the ceiling for this stack on one core.
// With --parse (contestant "parse"), it also decodes the body with TextDecoder + JSON.parse and answers
// with the request's uid: the ceiling for any engine that reads the object it is asked about.
// Prints one JSON line {"port": N} on stdout when listening.

import uWS from 'uWebSockets.js';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    port: { type: 'string', default: '0' },
    parse: { type: 'boolean', default: false },
  },
});
if (values.cert === undefined || values.key === undefined)
  throw new Error('bare: --cert and --key are required');

/** An AdmissionReview allowing the request `uid` (a template: this is the ceiling, per request for parse). */
function allowing(uid: string): string {
  return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true}}`;
}

const RESPONSE = allowing('00000000-0000-4000-8000-000000002048');

const decoder = new TextDecoder();
const parse = values.parse === true;

/** The response for a parsed body: the same bytes as RESPONSE when the uid is the same length. */
function answer(body: Buffer): string {
  const doc = JSON.parse(decoder.decode(body)) as { request?: { uid?: unknown } };
  return allowing(typeof doc.request?.uid === 'string' ? doc.request.uid : '');
}

const app = uWS.SSLApp({ cert_file_name: values.cert, key_file_name: values.key });
const handler = (res: uWS.HttpResponse) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const chunks: Buffer[] = [];
  res.onData((chunk, last) => {
    // uWS reuses the chunk's memory after this callback returns: copy it.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!last || aborted) return;
    const body = Buffer.concat(chunks);
    if (body.length === 0) {
      res.cork(() => res.writeStatus('400 Bad Request').end('empty body'));
      return;
    }
    let out = RESPONSE;
    if (parse) {
      try {
        out = answer(body);
      } catch {
        res.cork(() => res.writeStatus('400 Bad Request').end('bad JSON'));
        return;
      }
    }
    res.cork(() => res.writeHeader('Content-Type', 'application/json').end(out));
  });
};
app.post('/validate', handler);
app.post('/mutate', handler);
app.get('/healthz', (res) => {
  res.end('ok');
});
app.listen('127.0.0.1', Number(values.port), (sock) => {
  if (!sock) {
    process.stderr.write(`bare: cannot listen on port ${values.port}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port: uWS.us_socket_local_port(sock) })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
