// Dev certificates for every contestant: one RSA-2048 key (what cert-manager issues by default), a SAN
// for localhost and 127.0.0.1, made with openssl so that no contestant brings its own TLS setup.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Certs {
  readonly cert: string;
  readonly key: string;
  readonly description: string;
}

export function ensureCerts(dir: string): Certs {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  if (!existsSync(cert) || !existsSync(key)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '30',
        '-keyout',
        key,
        '-out',
        cert,
        '-subj',
        '/CN=tollgate-bench',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  return { cert, key, description: 'RSA-2048 self-signed (openssl), TLS 1.2/1.3 as negotiated' };
}
