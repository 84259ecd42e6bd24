/**
 * The configuration kind v0.32 writes into its HA load balancer (Envoy, file-based xDS) at
 * create time, rendered the same way, to write it back when the container has restarted: its
 * entrypoint resets both files to `resources: []`, leaving 127.0.0.1:6443 with no backend.
 * Backends are the control planes' container names (Docker's DNS resolves them), so the text
 * does not depend on the nodes' addresses. Source: kind's pkg/cluster/internal/loadbalancer.
 */

/** Where kind's load balancer reads its listeners (LDS) and clusters (CDS). */
export const LB_CONFIG_PATHS = { cds: "/home/envoy/cds.yaml", lds: "/home/envoy/lds.yaml" } as const;

/** The API server's port inside every node and the load balancer (kind's APIServerInternalPort). */
export const API_SERVER_INTERNAL_PORT = 6443;

export interface KindLbConfig {
  readonly cds: string;
  readonly lds: string;
}

/** Go's text/template ranges over a map in sorted key order; kind's map is name -> "name:6443". */
const byGoMapOrder = (names: readonly string[]) => [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** The LDS and CDS files kind writes for these control planes. */
export function kindLbConfig(controlPlanes: readonly string[], ipv6 = false): KindLbConfig {
  const port = API_SERVER_INTERNAL_PORT;
  const lds = `
resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: listener_apiserver
  address:
    socket_address:
      address: ${ipv6 ? '"::"' : '"0.0.0.0"'}
      port_value: ${port}
  filter_chains:
  - filters:
    - name: envoy.filters.network.tcp_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
        stat_prefix: ingress_tcp
        cluster: kube_apiservers
`;
  const endpoints = byGoMapOrder(controlPlanes)
    .map(
      (name) => `
      - endpoint:
          address:
            socket_address:
              address: ${name}
              port_value: ${port}`,
    )
    .join("");
  const cds = `
resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: kube_apiservers
  connect_timeout: 0.25s
  type: STRICT_DNS
  lb_policy: ROUND_ROBIN
  dns_lookup_family: ${ipv6 ? "AUTO" : "V4_PREFERRED"}
  health_checks:
  - timeout: 3s
    interval: 2s
    unhealthy_threshold: 2
    healthy_threshold: 1
    initial_jitter: 0s
    no_traffic_interval: 3s
    always_log_health_check_failures: true
    always_log_health_check_success: true
    event_log_path: /dev/stdout
    http_health_check:
      path: /healthz
    transport_socket_match_criteria:
      tls_mode: "true"
  transport_socket_matches:
  - name: "health_check_tls"
    match:
      tls_mode: "true"
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          validation_context:
            trust_chain_verification: ACCEPT_UNTRUSTED
  load_assignment:
    cluster_name: kube_apiservers
    endpoints:
    - lb_endpoints:${endpoints}
`;
  return { cds, lds };
}

/** True when a file kind's entrypoint reset holds no resources (the state after a restart). */
export function isEmptyLbConfig(text: string): boolean {
  return text.trim() === "" || /^resources:\s*\[\]\s*$/.test(text.trim());
}

/** The backends (container names) a cluster configuration sends API traffic to, sorted. */
export function lbBackends(cds: string): string[] {
  return [...cds.matchAll(/socket_address:\s*\n\s*address: "?([^"\s]+)"?\s*\n\s*port_value: \d+/g)].map((m) => m[1]).sort();
}
