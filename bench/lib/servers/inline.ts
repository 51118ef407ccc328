// Contestant "inline": uWebSockets.js TLS + the Tollgate engine evaluating on the event-loop thread
// (InlineEngine), in one process. No pool, no metrics, no logs: what the engine costs on top of "bare".
// Prints one JSON line {"port": N} on stdout when listening.

import uWS from 'uWebSockets.js';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    port: { type: 'string', default: '0' },
    rules: { type: 'string', default: 'rules' },
    config: { type: 'string', multiple: true, default: [] },
    // The engine module: dist/engine/engine.js (as built), or src/engine/engine.ts under tsx.
    engine: { type: 'string' },
    'cache-dir': { type: 'string' },
  },
});
if (values.cert === undefined || values.key === undefined)
  throw new Error('inline: --cert and --key are required');

if (values.engine === undefined) throw new Error('inline: --engine is required');
type EngineModule = typeof import('../../../src/engine/engine.js');
const { InlineEngine } = (await import(pathToFileURL(values.engine).href)) as EngineModule;
const engine = await InlineEngine.create({
  rules: values.rules,
  configs: values.config,
  data: [],
  ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}),
});
// Policies are compiled once at load; esbuild's service process is not part of serving (nor of its RSS).
(await import('esbuild')).stop();
const STATUS: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  500: '500 Internal Server Error',
};

const app = uWS.SSLApp({ cert_file_name: values.cert, key_file_name: values.key });
const route = (endpoint: 'validate' | 'mutate') => (res: uWS.HttpResponse) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const chunks: Buffer[] = [];
  res.onData((chunk, last) => {
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!last) return;
    engine.evaluate({ body: Buffer.concat(chunks), endpoint }).then(
      (reply) => {
        if (aborted) return;
        // After an await, writes must be corked or uWS sends each piece in its own syscall.
        res.cork(() => {
          res
            .writeStatus(STATUS[reply.status] ?? `${reply.status} Error`)
            .writeHeader('Content-Type', 'application/json')
            .end(reply.body);
        });
      },
      (e: unknown) => {
        if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end(String(e)));
      },
    );
  });
};
app.post('/validate', route('validate'));
app.post('/mutate', route('mutate'));
app.get('/healthz', (res) => {
  res.end('ok');
});
app.listen('127.0.0.1', Number(values.port), (sock) => {
  if (!sock) {
    process.stderr.write(`inline: cannot listen on port ${values.port}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port: uWS.us_socket_local_port(sock) })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
