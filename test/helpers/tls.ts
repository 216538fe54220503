import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/** A certificate and its private key, PEM encoded. */
export interface Pem {
  cert: string;
  key: string;
}

export interface Authority extends Pem {
  sign(cert: forge.pki.Certificate): void;
  subject: forge.pki.CertificateField[];
}

// Node generates the RSA keys (fast, native); forge only builds and signs the certificates.
function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
  };
}

function baseCert(publicKey: forge.pki.PublicKey, commonName: string) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial: the top bit clear.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  return { cert, subject };
}

/** A self-signed certificate authority for one test run. */
export function createAuthority(commonName: string): Authority {
  const keys = keyPair();
  const { cert, subject } = baseCert(keys.publicKey, commonName);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return {
    cert: forge.pki.certificateToPem(cert),
    key: keys.key,
    subject,
    sign: (leaf) => {
      leaf.setIssuer(subject);
      leaf.sign(keys.privateKey, forge.md.sha256.create());
    },
  };
}

/** A leaf certificate signed by `ca`: a server one names its IP addresses and host names. */
export function issueCertificate(
  ca: Authority,
  options: { commonName: string; usage: 'server' | 'client'; ips?: string[]; dnsNames?: string[] },
): Pem {
  const keys = keyPair();
  const { cert } = baseCert(keys.publicKey, options.commonName);
  const altNames = [
    ...(options.ips ?? []).map((ip) => ({ type: 7, ip })),
    ...(options.dnsNames ?? []).map((value) => ({ type: 2, value })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    options.usage === 'server'
      ? { name: 'extKeyUsage', serverAuth: true }
      : { name: 'extKeyUsage', clientAuth: true },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  ca.sign(cert);
  return { cert: forge.pki.certificateToPem(cert), key: keys.key };
}

/** Writes `<name>.crt` and `<name>.key` into `dir`. */
export function writePem(dir: string, name: string, pem: Pem): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, pem.cert);
  writeFileSync(keyFile, pem.key, { mode: 0o600 });
  return { certFile, keyFile };
}
