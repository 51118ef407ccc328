/**
 * `tollgate eval`: AdmissionReview JSON lines on stdin, response JSON lines on stdout, in input order.
 * Input is streamed: each line is evaluated as soon as it is read (a bounded number in flight) and each
 * answer is written as soon as every earlier one has been. A bad line yields
 * `{"error":{"code","message"},"line":N}` in its place and the rest go on.
 */
import { createInterface } from 'node:readline';
import { type Endpoint, InlineEngine } from '../engine/engine.js';
import { isStdoutClosed, onStdoutClosed, parseCommand, warnNoBindings, watchStdout, write } from './io.js';
import { loadOptionsFrom, reportError, SHARED_OPTIONS } from './shared.js';

const OPTIONS = {
  ...SHARED_OPTIONS,
  mutate: { type: 'boolean', default: false },
} as const;

const USAGE = `usage: tollgate eval [flags] < reviews.jsonl > responses.jsonl

Reads one AdmissionReview (admission.k8s.io/v1 or v1beta1) per line from stdin and writes the
AdmissionReview response for each, one per line, in the same order. Blank lines are skipped. A line
that is not a valid review gives {"error":{"code":"TOLLGATE_ERR_…","message":"…"},"line":N}.

flags:
  --rules DIR      policies (default ./rules)
  --config PATH    bindings / Gatekeeper constraints (repeatable)
  --data PATH      cluster objects for matching and referential policies (repeatable)
  --mutate         evaluate mutating policies and return JSON patches (the /mutate endpoint)
  --log-level LVL  trace|debug|info|warn|error|fatal|silent

exit: 0 every line answered with a review, 2 a line was bad (after all lines) or the policies do not load`;

/** How many lines may be in evaluation at once (async policies overlap; output order is kept). */
const MAX_IN_FLIGHT = 64;

interface Slot {
  out: string | undefined;
  readonly done: Promise<void>;
}

export async function run(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand('eval', argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    process.stderr.write(
      `tollgate eval: reviews are read from stdin; unexpected argument ${JSON.stringify(positionals[0])}\n`,
    );
    return 2;
  }
  let engine: InlineEngine;
  try {
    engine = await InlineEngine.create(loadOptionsFrom(values), { freezeObjects: true });
    if (engine.policySet.bindings.length === 0) warnNoBindings('eval');
  } catch (e) {
    return reportError('eval', e);
  }
  const endpoint: Endpoint = values.mutate ? 'mutate' : 'validate';
  let bad = 0;

  const evaluate = async (text: string, line: number): Promise<string> => {
    const reply = await engine.evaluate({ body: Buffer.from(text), endpoint });
    if (reply.status === 200) return reply.body;
    bad++;
    const error = reply.error ?? { code: 'TOLLGATE_ERR_INTERNAL', message: `HTTP ${reply.status}` };
    return JSON.stringify({ error: { code: error.code, message: error.message }, line });
  };

  // Answers leave in input order: a slot is written once it and every slot before it are done.
  const queue: Slot[] = [];
  let flushing: Promise<void> = Promise.resolve();
  const flush = () => {
    flushing = flushing.then(async () => {
      while (queue.length > 0 && queue[0]?.out !== undefined) {
        const slot = queue.shift() as Slot;
        await write(process.stdout, `${slot.out}\n`);
      }
    });
    return flushing;
  };

  const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  watchStdout();
  onStdoutClosed(() => rl.close());
  let n = 0;
  try {
    for await (const raw of rl) {
      if (isStdoutClosed()) break;
      n++;
      const text = raw.trim();
      if (text === '') continue;
      const line = n;
      const slot: Slot = {
        out: undefined,
        done: evaluate(text, line).then(
          (out) => {
            slot.out = out;
            return flush();
          },
          (e: unknown) => {
            bad++;
            slot.out = JSON.stringify({
              error: { code: 'TOLLGATE_ERR_INTERNAL', message: String((e as Error)?.message ?? e) },
              line,
            });
            return flush();
          },
        ),
      };
      queue.push(slot);
      // Bounded memory: wait for the oldest answer before reading on.
      if (queue.length >= MAX_IN_FLIGHT) await queue[0]?.done;
    }
    await Promise.all(queue.map((s) => s.done));
    await flushing;
  } catch (e) {
    return reportError('eval', e);
  } finally {
    rl.close();
    await engine.close();
  }
  return bad > 0 ? 2 : 0;
}
