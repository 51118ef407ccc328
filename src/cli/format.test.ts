import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dump, indent, lineDiff, table } from './format.js';
import { junitXml, xmlEscape } from './junit.js';

test('table pads every column but the last to its widest cell', () => {
  const t = table(
    ['OBJECT', 'DECISION', 'MESSAGE'],
    [
      ['Pod default/a', 'denied', 'x\ny'],
      ['Pod b', 'allowed', ''],
    ],
  );
  assert.equal(
    t,
    ['OBJECT         DECISION  MESSAGE', 'Pod default/a  denied    x y', 'Pod b          allowed'].join('\n'),
  );
});

test('dump sorts keys so equal values dump equally', () => {
  assert.equal(dump({ b: 1, a: { d: [1], c: 2 } }), dump({ a: { c: 2, d: [1] }, b: 1 }));
  assert.equal(dump(undefined), '(nothing)\n');
});

test('lineDiff marks removed and added lines and keeps three lines of context', () => {
  const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'].join('\n');
  const b = ['1', '2', '3', '4', '5', 'six', '7', '8', '9', '10'].join('\n');
  assert.equal(
    lineDiff(a, b),
    ['  …', '  3', '  4', '  5', '- 6', '+ six', '  7', '  8', '  9', '  …'].join('\n'),
  );
  assert.equal(lineDiff('a\nb', 'a\nb\nc'), '  a\n  b\n+ c');
  assert.equal(lineDiff('x', 'x'), '  x');
});

test('indent leaves empty lines empty', () => {
  assert.equal(indent('a\n\nb', '  '), '  a\n\n  b');
});

test('JUnit XML counts failures and errors and escapes text', () => {
  assert.equal(xmlEscape(`<a href="x">&'\u0001`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;\ufffd');
  const xml = junitXml([
    {
      name: 's.test.yaml',
      cases: [
        { name: 'ok', classname: 's.test.yaml', timeMs: 1.5, line: 3 },
        { name: 'bad <1>', classname: 's.test.yaml', timeMs: 2, failure: 'allowed: expected false\n  more' },
      ],
    },
    {
      name: 'broken.test.yaml',
      cases: [{ name: '(suite)', classname: 'broken.test.yaml', timeMs: 0, error: 'invalid' }],
    },
  ]);
  assert.match(
    xml,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="tollgate test" tests="3" failures="1" errors="1" time="0.004">/,
  );
  assert.match(xml, /<testcase name="ok" classname="s.test.yaml" time="0.002" line="3"\/>/);
  assert.match(
    xml,
    /<testcase name="bad &lt;1&gt;"[^>]*>\n\s+<failure message="allowed: expected false" type="TOLLGATE_ERR_TEST_FAILED">allowed: expected false\n {2}more<\/failure>/,
  );
  assert.match(xml, /<testsuite name="broken.test.yaml" tests="1" failures="0" errors="1"/);
});
