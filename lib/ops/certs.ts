/**
 * What the control planes' certificates say, read from the PEM files kubeadm wrote into each node
 * (through the container CLI, so it works while the API is down).
 */
import { X509Certificate } from "node:crypto";

/** Where kubeadm puts etcd's serving certificate on a control plane. */
export const ETCD_SERVER_CERT = "/etc/kubernetes/pki/etcd/server.crt";

const LOOPBACK = new Set(["127.0.0.1", "::1", "0:0:0:0:0:0:0:1"]);

/** The IP addresses a certificate's subjectAltName lists. */
export function certIpSans(pem: string): string[] {
  const sans = new X509Certificate(pem).subjectAltName ?? "";
  return sans.split(", ").filter((s) => s.startsWith("IP Address:")).map((s) => s.slice("IP Address:".length));
}

/**
 * The node address kubeadm gave an etcd member, as its serving certificate names it: the IP SANs
 * but loopback and the SANs every member shares (the stack's etcd certSans).
 */
export function memberAddresses(pem: string, sharedSans: readonly string[]): string[] {
  return certIpSans(pem).filter((ip) => !LOOPBACK.has(ip) && !sharedSans.includes(ip));
}
