/**
 * `tollgate certs --out DIR --service S --namespace N`: a development CA and a serving certificate for
 * the webhook Service, made with the system `openssl`. Prints the caBundle (base64 of the CA
 * certificate) on stdout for the webhook configuration. Idempotent: an existing CA is reused and an
 * existing serving certificate is kept while it is signed by that CA, names every SAN and is valid for
 * at least 30 more days. Keys are written 0600.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeError, TollgateError } from '../errors.js';
import { parseCommandArgs, reportError } from './shared.js';

const execFileAsync = promisify(execFile);

const OPTIONS = {
  out: { type: 'string', default: './certs' },
  service: { type: 'string', default: 'tollgate' },
  namespace: { type: 'string', default: 'tollgate' },
  days: { type: 'string', default: '365' },
  force: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const USAGE = `usage: tollgate certs [--out DIR] [--service NAME] [--namespace NS] [--days N] [--force]

Writes DIR/ca.crt, DIR/ca.key, DIR/tls.crt, DIR/tls.key (keys 0600): a development CA and a serving
certificate with SANs NAME.NS.svc, NAME.NS.svc.cluster.local, localhost and 127.0.0.1. Prints the
caBundle (base64 of ca.crt) on stdout. Reuses what is already there and still valid; --force renews all.
defaults: --out ./certs --service tollgate --namespace tollgate --days 365`;

const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface CertPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
}

export interface CertRequest {
  readonly out: string;
  readonly service: string;
  readonly namespace: string;
  readonly days: number;
  readonly force?: boolean;
}

export interface CertResult {
  readonly paths: CertPaths;
  /** base64 of the CA certificate PEM: the webhook configuration's caBundle. */
  readonly caBundle: string;
  readonly created: { readonly ca: boolean; readonly serving: boolean };
}

export function sanNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, 'localhost'];
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 60_000 });
  } catch (e) {
    const err = e as { code?: string; stderr?: string };
    if (err.code === 'ENOENT') {
      throw new TollgateError('TOLLGATE_ERR_CERTS', 'openssl is not installed (apt-get install openssl)');
    }
    throw new TollgateError(
      'TOLLGATE_ERR_CERTS',
      `openssl ${args[0]} failed: ${(err.stderr ?? describeError(e)).trim().slice(0, 500)}`,
    );
  }
}

function loadCert(path: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** Whether the CA pair on disk is usable: both files parse, the key matches and it is a CA still valid. */
function caUsable(paths: CertPaths): boolean {
  const ca = loadCert(paths.caCert);
  if (ca === undefined || !ca.ca) return false;
  try {
    if (!ca.checkPrivateKey(createPrivateKey(readFileSync(paths.caKey)))) return false;
  } catch {
    return false;
  }
  return Date.parse(ca.validTo) - Date.now() > RENEW_BEFORE_MS;
}

function servingUsable(paths: CertPaths, names: readonly string[]): boolean {
  const ca = loadCert(paths.caCert);
  const cert = loadCert(paths.cert);
  if (ca === undefined || cert === undefined) return false;
  try {
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(paths.key)))) return false;
  } catch {
    return false;
  }
  const san = cert.subjectAltName ?? '';
  const want = [...names.map((n) => `DNS:${n}`), 'IP Address:127.0.0.1'];
  if (!want.every((w) => san.split(', ').includes(w))) return false;
  return Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS;
}

/** Create (or reuse) the CA and serving certificate. Files are generated in a temp dir, then renamed. */
export async function ensureCerts(req: CertRequest): Promise<CertResult> {
  for (const [what, v] of [
    ['--service', req.service],
    ['--namespace', req.namespace],
  ] as const) {
    if (!DNS_LABEL.test(v))
      throw new TollgateError(
        'TOLLGATE_ERR_CONFIG_INVALID',
        `${what} ${JSON.stringify(v)} is not a DNS label`,
      );
  }
  if (!(Number.isSafeInteger(req.days) && req.days >= 31 && req.days <= 3650)) {
    throw new TollgateError(
      'TOLLGATE_ERR_CONFIG_INVALID',
      `--days must be an integer from 31 to 3650, got ${req.days}`,
    );
  }
  try {
    mkdirSync(req.out, { recursive: true });
  } catch (e) {
    throw new TollgateError('TOLLGATE_ERR_CERTS', `cannot create ${req.out}: ${describeError(e)}`);
  }
  const paths: CertPaths = {
    caCert: join(req.out, 'ca.crt'),
    caKey: join(req.out, 'ca.key'),
    cert: join(req.out, 'tls.crt'),
    key: join(req.out, 'tls.key'),
  };
  const names = sanNames(req.service, req.namespace);
  const makeCa = req.force === true || !caUsable(paths);
  const makeServing = makeCa || !servingUsable(paths, names);

  if (makeServing) {
    const tmp = mkdtempSync(join(req.out, '.tmp-'));
    try {
      if (makeCa) {
        await openssl(
          ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'],
          tmp,
        );
        await openssl(
          [
            'req',
            '-x509',
            '-new',
            '-key',
            'ca.key',
            '-sha256',
            '-days',
            '3650',
            '-subj',
            '/CN=tollgate-dev-ca',
            '-addext',
            'basicConstraints=critical,CA:TRUE',
            '-addext',
            'keyUsage=critical,keyCertSign,cRLSign',
            '-out',
            'ca.crt',
          ],
          tmp,
        );
      } else {
        writeFileSync(join(tmp, 'ca.crt'), readFileSync(paths.caCert));
        writeFileSync(join(tmp, 'ca.key'), readFileSync(paths.caKey), { mode: 0o600 });
      }
      writeFileSync(
        join(tmp, 'ext.cnf'),
        [
          `subjectAltName=${[...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',')}`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          'extendedKeyUsage=serverAuth',
          '',
        ].join('\n'),
      );
      await openssl(
        ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'tls.key'],
        tmp,
      );
      await openssl(['req', '-new', '-key', 'tls.key', '-subj', `/CN=${names[0]}`, '-out', 'tls.csr'], tmp);
      await openssl(
        [
          'x509',
          '-req',
          '-in',
          'tls.csr',
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-set_serial',
          `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
          '-days',
          String(req.days),
          '-sha256',
          '-extfile',
          'ext.cnf',
          '-out',
          'tls.crt',
        ],
        tmp,
      );
      for (const k of ['ca.key', 'tls.key']) chmodSync(join(tmp, k), 0o600);
      for (const k of ['ca.crt', 'tls.crt']) chmodSync(join(tmp, k), 0o644);
      // Keys first, so a reader never sees a new certificate with an old key for long.
      if (makeCa) {
        renameSync(join(tmp, 'ca.key'), paths.caKey);
        renameSync(join(tmp, 'ca.crt'), paths.caCert);
      }
      renameSync(join(tmp, 'tls.key'), paths.key);
      renameSync(join(tmp, 'tls.crt'), paths.cert);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  for (const k of [paths.caKey, paths.key]) if (existsSync(k)) chmodSync(k, 0o600);
  const caBundle = readFileSync(paths.caCert).toString('base64');
  return { paths, caBundle, created: { ca: makeCa, serving: makeServing } };
}

export async function run(argv: readonly string[]): Promise<number> {
  try {
    const { values } = parseCommandArgs(argv, OPTIONS);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const days = /^\d+$/.test(values.days) ? Number(values.days) : Number.NaN;
    const r = await ensureCerts({
      out: values.out,
      service: values.service,
      namespace: values.namespace,
      days,
      force: values.force,
    });
    const what = r.created.ca
      ? 'created a new CA and serving certificate'
      : r.created.serving
        ? 'kept the CA, renewed the serving certificate'
        : 'certificates are current, nothing to do';
    process.stderr.write(
      `tollgate certs: ${what} in ${values.out} (SANs: ${sanNames(values.service, values.namespace).join(', ')}, 127.0.0.1)\n` +
        'caBundle (stdout):\n',
    );
    process.stdout.write(`${r.caBundle}\n`);
    return 0;
  } catch (e) {
    return reportError('certs', e);
  }
}
