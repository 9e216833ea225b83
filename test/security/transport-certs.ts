/**
 * Certificates for the transport tests, made by the openssl CLI (Debian's `openssl`, installed by
 * scripts/test.sh when missing): a private CA, leaf certificates it signs, and a second CA nobody trusts.
 * P-256 keys, valid for a day; every key file 0600 so the config's secret-file check accepts it.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A self-signed CA in `dir` under `name`. */
export function makeCa(dir: string, name: string): TestCa {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  chmodSync(keyFile, 0o600);
  return { dir, certFile, keyFile, cert: readFileSync(certFile) };
}

/**
 * A leaf certificate signed by `ca`. `subject` is an openssl -subj string (`/CN=wear-001`, or
 * `/CN=a/CN=b` for two CNs); `san` an optional subjectAltName value (`IP:127.0.0.1,DNS:localhost`).
 */
export function makeCert(ca: TestCa, name: string, subject: string, san?: string): TestCert {
  const keyFile = join(ca.dir, `${name}.key`);
  const csrFile = join(ca.dir, `${name}.csr`);
  const certFile = join(ca.dir, `${name}.crt`);
  openssl(ca.dir, [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csrFile,
    "-subj",
    subject,
  ]);
  const extFile = join(ca.dir, `${name}.ext`);
  writeFileSync(
    extFile,
    `basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n${san ? `subjectAltName=${san}\n` : ""}`,
  );
  openssl(ca.dir, [
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "1",
    "-extfile",
    extFile,
  ]);
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
