/**
 * The test tiers' database: PostgreSQL from Debian (kindha.local/postgres:15, built by
 * e2e/node-image.sh and pre-loaded into its nodes) as a StatefulSet whose claim comes from the
 * class `standard`, in the stack's own `workloads` namespace (Terraform's: cdktf destroy deletes it).
 */
import { kubectl, MINUTE, waitFor } from "./cluster";

export const POSTGRES_IMAGE = "kindha.local/postgres:15";
export const NAMESPACE = "workloads";
export const POD = "postgres-0";
/** The claim the StatefulSet's template makes for pod 0: `<template>-<set>-0`. */
export const CLAIM = "data-postgres-0";
export const ROWS = 10_000;

const PATH = "/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Headless service and StatefulSet (1 replica, 1 GiB claim from `standard`); the stack makes the namespace. */
export function postgresManifest(): string {
  const labels = { app: "postgres" };
  return JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "postgres", namespace: NAMESPACE },
        spec: { clusterIP: "None", selector: labels, ports: [{ port: 5432 }] },
      },
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "postgres", namespace: NAMESPACE },
        spec: {
          serviceName: "postgres",
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 60,
              containers: [
                {
                  name: "postgres",
                  image: POSTGRES_IMAGE,
                  imagePullPolicy: "Never",
                  env: [
                    { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
                    { name: "PATH", value: PATH },
                  ],
                  volumeMounts: [{ name: "data", mountPath: "/var/lib/postgresql/data" }],
                  readinessProbe: { exec: { command: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"] }, periodSeconds: 2 },
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: "data" },
              spec: { accessModes: ["ReadWriteOnce"], storageClassName: "standard", resources: { requests: { storage: "1Gi" } } },
            },
          ],
        },
      },
    ],
  });
}

export interface Db {
  readonly kubeconfig: string;
  readonly env: NodeJS.ProcessEnv;
}

/** One SQL statement through psql in the pod; its unaligned output. */
export function sql(db: Db, statement: string): string {
  return kubectl(db.kubeconfig, db.env, [
    "-n",
    NAMESPACE,
    "exec",
    POD,
    "--",
    "psql",
    "-h",
    "127.0.0.1",
    "-U",
    "postgres",
    "-v",
    "ON_ERROR_STOP=1",
    "-At",
    "-c",
    statement,
  ]).trim();
}

/** Row count and an md5 over every row in key order: `10000 <md5>`. */
export function checksum(db: Db): string {
  return sql(db, "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM rows").replace(/\s+/g, " ");
}

/** Waits until postgres-0 is Ready and answers; returns the node it runs on. */
export async function waitReady(db: Db, timeoutMs = 5 * MINUTE): Promise<string> {
  return waitFor(`${NAMESPACE}/${POD} Ready and answering`, timeoutMs, () => {
    const pod = JSON.parse(kubectl(db.kubeconfig, db.env, ["-n", NAMESPACE, "get", "pod", POD, "-o", "json"]));
    const ready = (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True");
    if (!ready) return undefined;
    return sql(db, "SELECT 1") === "1" ? (pod.spec.nodeName as string) : undefined;
  });
}

/** Creates the table and writes ROWS rows; returns the checksum. */
export function writeRows(db: Db): string {
  sql(
    db,
    `CREATE TABLE rows (id int PRIMARY KEY, v text NOT NULL); INSERT INTO rows SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) g; CHECKPOINT`,
  );
  return checksum(db);
}
