/**
 * What the control planes' certificates say, read from the PEM files kubeadm wrote into each node
 * (through the container CLI, so it works while the API is down).
 */
import { X509Certificate } from "node:crypto";
import type { CommandResult } from "../io/exec";

/** Where kubeadm puts etcd's serving certificate on a control plane. */
export const ETCD_SERVER_CERT = "/etc/kubernetes/pki/etcd/server.crt";
/** Its name in {@link CERT_BUNDLE_SCRIPT}'s output (relative to /etc/kubernetes). */
export const ETCD_SERVER_BUNDLE_NAME = "pki/etcd/server.crt";

const LOOPBACK = new Set(["127.0.0.1", "::1", "0:0:0:0:0:0:0:1"]);

/** The IP addresses a certificate's subjectAltName lists. */
export function certIpSans(pem: string): string[] {
  const sans = new X509Certificate(pem).subjectAltName ?? "";
  return sans
    .split(", ")
    .filter((s) => s.startsWith("IP Address:"))
    .map((s) => s.slice("IP Address:".length));
}

/**
 * The node address kubeadm gave an etcd member, as its serving certificate names it: the IP SANs
 * but loopback and the SANs every member shares (the stack's etcd certSans).
 */
export function memberAddresses(pem: string, sharedSans: readonly string[]): string[] {
  return certIpSans(pem).filter((ip) => !LOOPBACK.has(ip) && !sharedSans.includes(ip));
}

/**
 * Prints every certificate kubeadm wrote on a control plane that expires with it (kubelet rotates
 * its own): the PEM files under /etc/kubernetes/pki, then the client certificates embedded in the
 * component kubeconfigs, each after a `== <name>` line. Run with `sh -c` in the node.
 */
export const CERT_BUNDLE_SCRIPT = [
  "cd /etc/kubernetes",
  'for f in pki/*.crt pki/etcd/*.crt; do [ -f "$f" ] && printf "== %s\\n" "$f" && cat "$f"; done',
  'for f in admin.conf super-admin.conf controller-manager.conf scheduler.conf; do [ -f "$f" ] || continue; printf "== %s\\n" "$f"; sed -n "s/^ *client-certificate-data: *//p" "$f" | base64 -d; done',
].join("; ");

/** A certificate's name (its file) and when it expires. */
export interface CertExpiry {
  readonly name: string;
  readonly notAfter: Date;
}

/** The certificate that expires first; undefined for none. */
export function earliestCert(certs: readonly CertExpiry[]): CertExpiry | undefined {
  return certs.reduce<CertExpiry | undefined>((first, c) => (!first || c.notAfter < first.notAfter ? c : first), undefined);
}

/**
 * One file of a bundle as if it had been read alone (`cat <file>` in the node): the bundle's
 * failure when it failed, a failure naming the file when the bundle lacks it.
 */
export function fileOfBundle(bundle: CommandResult, name: string): CommandResult {
  if (bundle.code !== 0) return bundle;
  const part = bundle.stdout.split(/^== /m).find((p) => p.slice(0, p.indexOf("\n")).trim() === name);
  return part === undefined
    ? { code: 1, stdout: "", stderr: `no ${name} under /etc/kubernetes` }
    : { code: 0, stdout: part.slice(part.indexOf("\n") + 1), stderr: "" };
}

/** The certificates in {@link CERT_BUNDLE_SCRIPT}'s output; throws on one that does not parse. */
export function parseCertBundle(text: string): CertExpiry[] {
  return text
    .split(/^== /m)
    .filter((part) => part.trim() !== "")
    .map((part) => {
      const nl = part.indexOf("\n");
      const name = part.slice(0, nl).trim();
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(part.slice(nl + 1))?.[0];
      if (!pem) throw new Error(`${name} holds no certificate`);
      try {
        return { name, notAfter: new Date(new X509Certificate(pem).validTo) };
      } catch (e) {
        throw new Error(`${name} does not parse: ${(e as Error).message}`, { cause: e });
      }
    });
}
