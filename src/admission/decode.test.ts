import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TollgateError } from '../errors.js';
import { decodeReview, MAX_JSON_DEPTH, narrowReview, nestsDeeperThan, peekUid } from './decode.js';

const enc = (s: string) => new TextEncoder().encode(s);

function base(): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: 'web',
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'admin', uid: '1', groups: ['system:masters'], extra: { scopes: ['a', 'b'] } },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: {} },
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

function req(doc: Record<string, unknown>): Record<string, unknown> {
  return doc.request as Record<string, unknown>;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TollgateError, `expected TollgateError, got ${String(e)}`);
    assert.equal(e.status, 400);
    return e.code;
  }
  assert.fail('expected a throw');
}

describe('decodeReview', () => {
  it('decodes v1 and v1beta1 with every field', () => {
    for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const) {
      const doc = base();
      doc.apiVersion = apiVersion;
      const r = decodeReview(enc(JSON.stringify(doc)));
      assert.equal(r.apiVersion, apiVersion);
      assert.equal(r.request.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
      assert.deepEqual(r.request.kind, { group: '', version: 'v1', kind: 'Pod' });
      assert.deepEqual(r.request.resource, { group: '', version: 'v1', resource: 'pods' });
      assert.equal(r.request.operation, 'CREATE');
      assert.equal(r.request.name, 'web');
      assert.equal(r.request.namespace, 'default');
      assert.deepEqual(r.request.userInfo, {
        username: 'admin',
        uid: '1',
        groups: ['system:masters'],
        extra: Object.assign(Object.create(null), { scopes: ['a', 'b'] }),
      });
      assert.equal(r.request.object?.metadata?.name, 'web');
      assert.equal(r.request.oldObject, null);
      assert.equal(r.request.dryRun, false);
      assert.deepEqual(r.request.options, { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' });
    }
  });

  it('accepts a string body and omits absent optional fields', () => {
    const doc = base();
    const r0 = req(doc);
    delete r0.name;
    delete r0.namespace;
    delete r0.requestKind;
    delete r0.resource;
    delete r0.userInfo;
    delete r0.object;
    delete r0.oldObject;
    delete r0.dryRun;
    delete r0.options;
    const r = decodeReview(JSON.stringify(doc)).request;
    assert.equal('name' in r, false);
    assert.equal('namespace' in r, false);
    assert.equal('requestKind' in r, false);
    assert.deepEqual(r.resource, { group: '', version: '', resource: '' });
    assert.deepEqual(r.userInfo, {});
    assert.equal(r.object, null);
    assert.equal(r.oldObject, null);
    assert.equal(r.dryRun, false);
    assert.equal(r.options, null);
  });

  it('keeps subresources, DELETE and CONNECT shapes', () => {
    const del = base();
    Object.assign(req(del), {
      operation: 'DELETE',
      object: null,
      oldObject: { kind: 'Pod', metadata: { name: 'x' } },
    });
    const d = decodeReview(JSON.stringify(del)).request;
    assert.equal(d.object, null);
    assert.equal(d.oldObject?.metadata?.name, 'x');
    const con = base();
    Object.assign(req(con), {
      operation: 'CONNECT',
      kind: { group: '', version: 'v1', kind: 'PodAttachOptions' },
      subResource: 'attach',
      requestSubResource: 'attach',
      object: { kind: 'PodAttachOptions', apiVersion: 'v1', container: 'c' },
      options: null,
    });
    const c = decodeReview(JSON.stringify(con)).request;
    assert.equal(c.subResource, 'attach');
    assert.equal(c.requestSubResource, 'attach');
    assert.equal(c.object?.metadata, undefined);
    assert.equal(c.options, null);
  });

  it('dryRun is true only for a literal true', () => {
    for (const [v, want] of [
      [true, true],
      ['true', false],
      [1, false],
      [null, false],
    ] as const) {
      const doc = base();
      req(doc).dryRun = v;
      assert.equal(decodeReview(JSON.stringify(doc)).request.dryRun, want);
    }
  });

  it('parses apiserver escapes, non-BMP text and a trailing newline', () => {
    const doc = base();
    (req(doc).object as Record<string, unknown>).metadata = {
      name: 'web',
      annotations: { html: '<a href="x">&amp;</a>', emoji: '😀 𝄞', ls: '\u2028' },
    };
    const text = `${JSON.stringify(doc).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')}\n`;
    assert.ok(text.includes('\\u003ca href'));
    const r = decodeReview(enc(text));
    assert.deepEqual(r.request.object?.metadata?.annotations, {
      html: '<a href="x">&amp;</a>',
      emoji: '😀 𝄞',
      ls: '\u2028',
    });
    // Escaped surrogate pairs decode to the same code point.
    const escaped = decodeReview(JSON.stringify(base()).replace('"web"', '"\\ud83d\\ude00"'));
    assert.equal(escaped.request.name, '😀');
    // A UTF-8 BOM and surrounding whitespace are tolerated.
    assert.equal(decodeReview(enc(`\ufeff \r\n${JSON.stringify(base())}\r\n`)).request.name, 'web');
  });

  it('rejects invalid JSON with TOLLGATE_ERR_ADMISSION_BAD_JSON', () => {
    for (const body of ['', '{', '{"a":1,}', "{'a':1}", 'null x', '\u0000']) {
      assert.equal(
        code(() => decodeReview(enc(body))),
        'TOLLGATE_ERR_ADMISSION_BAD_JSON',
        JSON.stringify(body),
      );
    }
    assert.equal(
      code(() => decodeReview(Uint8Array.from([0xff, 0xfe, 0x00]))),
      'TOLLGATE_ERR_ADMISSION_BAD_JSON',
    );
  });

  it('rejects a missing or null request', () => {
    for (const request of [undefined, null, 'x', 1, []]) {
      const doc = base();
      if (request === undefined) delete doc.request;
      else doc.request = request;
      assert.equal(
        code(() => decodeReview(JSON.stringify(doc))),
        'TOLLGATE_ERR_ADMISSION_NO_REQUEST',
      );
    }
  });

  it('rejects a missing, empty or non-string uid', () => {
    for (const uid of [undefined, '', null, 7, true, ['u'], { uid: 'u' }]) {
      const doc = base();
      if (uid === undefined) delete req(doc).uid;
      else req(doc).uid = uid;
      assert.equal(
        code(() => decodeReview(JSON.stringify(doc))),
        'TOLLGATE_ERR_ADMISSION_NO_UID',
        String(uid),
      );
    }
  });

  it('rejects unsupported group/version/kind without guessing', () => {
    const cases: [unknown, unknown][] = [
      ['admission.k8s.io/v2', 'AdmissionReview'],
      ['admission.k8s.io/v1beta2', 'AdmissionReview'],
      ['v1', 'AdmissionReview'],
      [undefined, 'AdmissionReview'],
      ['admission.k8s.io/v1', 'Review'],
      ['admission.k8s.io/v1', undefined],
      ['Admission.k8s.io/v1', 'AdmissionReview'],
      ['admission.k8s.io/v1', 'admissionreview'],
    ];
    for (const [apiVersion, kind] of cases) {
      const doc = base();
      if (apiVersion === undefined) delete doc.apiVersion;
      else doc.apiVersion = apiVersion;
      if (kind === undefined) delete doc.kind;
      else doc.kind = kind;
      assert.equal(
        code(() => decodeReview(JSON.stringify(doc))),
        'TOLLGATE_ERR_ADMISSION_BAD_GVK',
      );
    }
    // The message quotes what was sent, clipped: a megabyte apiVersion is not echoed back.
    const huge = base();
    huge.apiVersion = 'v'.repeat(1_000_000);
    try {
      decodeReview(JSON.stringify(huge));
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof TollgateError);
      assert.ok(e.message.length < 300, `message of ${e.message.length} characters`);
    }
    for (const body of ['[]', '"x"', '42', 'null', 'true']) {
      assert.equal(
        code(() => decodeReview(body)),
        'TOLLGATE_ERR_ADMISSION_BAD_GVK',
        body,
      );
    }
  });

  it('rejects wrongly typed fields with TOLLGATE_ERR_ADMISSION_BAD_FIELD naming the field', () => {
    const cases: [string, unknown][] = [
      ['object', 'a string'],
      ['object', 42],
      ['object', [1]],
      ['object', true],
      ['oldObject', 'x'],
      ['kind', 'Pod'],
      ['kind', { group: '', version: 'v1' }],
      ['kind', undefined],
      ['resource', 'pods'],
      ['operation', 'PATCH'],
      ['operation', undefined],
      ['operation', 1],
      ['name', 5],
      ['namespace', {}],
      ['subResource', []],
      ['userInfo', 'admin'],
    ];
    for (const [field, value] of cases) {
      const doc = base();
      if (value === undefined) delete req(doc)[field];
      else req(doc)[field] = value;
      try {
        decodeReview(JSON.stringify(doc));
        assert.fail(`${field}=${JSON.stringify(value)} accepted`);
      } catch (e) {
        assert.ok(e instanceof TollgateError);
        assert.equal(e.code, 'TOLLGATE_ERR_ADMISSION_BAD_FIELD', `${field}=${JSON.stringify(value)}`);
        assert.equal(e.details.field, field);
      }
    }
    const doc = base();
    (req(doc).object as Record<string, unknown>).metadata = 'x';
    assert.equal(
      code(() => decodeReview(JSON.stringify(doc))),
      'TOLLGATE_ERR_ADMISSION_BAD_FIELD',
    );
  });

  it('__proto__ and constructor keys stay own data and never pollute prototypes', () => {
    const doc = base();
    const text = JSON.stringify(doc)
      .replace(
        '"metadata":{',
        '"metadata":{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},',
      )
      .replace('"request":{', '"request":{"__proto__":{"dryRun":true,"polluted":3},')
      .replace('"extra":{', '"extra":{"__proto__":["p"],');
    const r = decodeReview(text);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
    assert.equal(r.request.dryRun, false, 'a __proto__ key does not supply inherited fields');
    const meta = r.request.object?.metadata as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(meta), Object.prototype);
    assert.ok(Object.hasOwn(meta, '__proto__'));
    assert.deepEqual(Object.getOwnPropertyDescriptor(meta, '__proto__')?.value, { polluted: 1 });
    const extra = r.request.userInfo.extra ?? {};
    assert.deepEqual(Object.getOwnPropertyDescriptor(extra, '__proto__')?.value, ['p']);
    assert.equal(Object.getPrototypeOf(r.request.userInfo.extra), null);
    // A __proto__ uid cannot stand in for the real one.
    const noUid = JSON.stringify(base()).replace(
      '"uid":"705ab4f5-6393-11e8-b7cc-42010a800002"',
      '"__proto__":{"uid":"u"}',
    );
    assert.equal(
      code(() => decodeReview(noUid)),
      'TOLLGATE_ERR_ADMISSION_NO_UID',
    );
  });

  it('deep nesting is a clean BAD_JSON error, with or without recursion-hungry payloads', () => {
    const deepArray = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    assert.equal(
      code(() => decodeReview(deepArray)),
      'TOLLGATE_ERR_ADMISSION_BAD_JSON',
    );
    const nest = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const withObject = (n: number) => JSON.stringify(base()).replace('"spec":{}', `"spec":${nest(n)}`);
    assert.equal(
      code(() => decodeReview(withObject(MAX_JSON_DEPTH + 1))),
      'TOLLGATE_ERR_ADMISSION_BAD_JSON',
    );
    // The document itself uses 3 levels above spec (review, request, object): the limit counts all of them.
    const r = decodeReview(withObject(MAX_JSON_DEPTH - 3));
    assert.equal(typeof r.request.object?.spec, 'object');
    assert.doesNotThrow(() => structuredClone(r));
  });

  it('nestsDeeperThan counts container levels of a parsed value', () => {
    assert.equal(nestsDeeperThan({ s: '['.repeat(100) }, 1), false);
    assert.equal(nestsDeeperThan([[[[[[[1]]]]]]], 5), true);
    assert.equal(nestsDeeperThan([[[[[1]]]]], 5), false);
    assert.equal(nestsDeeperThan([1, 'x', [[[[[1]]]]]], 5), true);
    assert.equal(nestsDeeperThan({ a: { b: { c: {} } } }, 4), false);
    assert.equal(nestsDeeperThan({ a: { b: { c: {} } } }, 3), true);
    assert.equal(nestsDeeperThan(JSON.parse('{"__proto__":{"a":{"b":{}}}}'), 3), true);
    assert.equal(nestsDeeperThan('x', 0), false);
    assert.equal(nestsDeeperThan(null, 0), false);
  });

  it('narrowReview and peekUid work on parsed values', () => {
    assert.equal(narrowReview(base()).request.name, 'web');
    assert.equal(peekUid(base()), '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.equal(peekUid({ request: { uid: 3 } }), undefined);
    assert.equal(peekUid('x'), undefined);
  });
});
