/**
 * The topology as a Mermaid flowchart: clients, the load balancer (HA only), one API server and
 * one stacked etcd member per control plane, and the workers with their roles.
 */
import { kindLoadBalancerName, type Topology } from "../model/topology";

/** Text for a quoted Mermaid label. */
function label(text: string): string {
  return `"${text.replace(/"/g, "#quot;")}"`;
}

function budget(b: { cpu: number; memoryGiB: number }): string {
  return `${b.cpu} CPU / ${b.memoryGiB} GiB`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Mermaid source (without the fence). Node ids: `lb`, `api<i>`, `etcd<i>`, `w<i>`. */
export function topologyFlowchart(t: Topology): string {
  const lines: string[] = ["flowchart TB"];
  const add = (line: string, depth = 1) => lines.push(`${"  ".repeat(depth)}${line}`);
  const cps = t.controlPlanes;
  add(`clients([${label(`kubectl and clients<br/>${t.api.url}`)}])`);
  if (t.api.loadBalanced) {
    add(`lb[${label(`Load balancer: kind's built-in<br/>${kindLoadBalancerName(t.clusterName)}<br/>listens on ${t.api.url}`)}]`);
    add("clients --> lb");
  }
  const { members, quorum, toleratedFailures } = t.etcd;
  add(
    `subgraph control_planes[${label(
      `${plural(cps.length, "control plane")} · etcd: ${plural(members.length, "member")}, quorum ${quorum}, tolerates ${plural(toleratedFailures, "failure")}`,
    )}]`,
  );
  cps.forEach((n, i) => {
    const k = i + 1;
    add(`subgraph cp${k}[${label(`${n.name}<br/>${n.role} · ${budget(n.budget)}`)}]`, 2);
    add(`api${k}[${label("API server")}]`, 3);
    add(`etcd${k}[(${label(`etcd member ${k}`)})]`, 3);
    add(`api${k} --> etcd${k}`, 3);
    add("end", 2);
  });
  add("end");
  cps.forEach((_, i) => add(t.api.loadBalanced ? `lb --> api${i + 1}` : `clients --> api${i + 1}`));
  for (let i = 0; i < cps.length; i++) {
    for (let j = i + 1; j < cps.length; j++) add(`etcd${i + 1} -. raft .- etcd${j + 1}`);
  }
  if (t.workers.length > 0) {
    add(`subgraph worker_nodes[${label(plural(t.workers.length, "worker"))}]`);
    t.workers.forEach((n, i) => {
      const taints = n.taints.map((x) => `<br/>taint ${x.key}=${x.value}:${x.effect}`).join("");
      add(`w${i + 1}[${label(`${n.name}<br/>${n.role} · ${budget(n.budget)}${taints}`)}]`, 2);
    });
    add("end");
    const target = t.api.loadBalanced ? "lb" : "api1";
    t.workers.forEach((_, i) => add(`w${i + 1} -. kubelet .-> ${target}`));
  }
  return lines.join("\n");
}
