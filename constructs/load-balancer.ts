import { Construct } from "constructs";
import type { ApiEndpoint } from "../lib/topology";
import type { ControlPlaneNode } from "./control-plane-node";

export interface LoadBalancerProps {
  /** The API endpoint the load balancer serves. */
  readonly endpoint: ApiEndpoint;
  /** API servers behind it, one per control plane. */
  readonly backends: readonly ControlPlaneNode[];
}

/**
 * The load balancer in front of the API servers of an HA cluster.
 *
 * kind runs it as the `<cluster>-external-load-balancer` container (Envoy from kind v0.32,
 * HAProxy before) listening on `networking.apiServerAddress:apiServerPort`; this construct holds
 * that contract so the rest of the stack reads one typed endpoint.
 */
export class LoadBalancer extends Construct {
  /** `https://127.0.0.1:6443` by default. */
  public readonly url: string;
  public readonly address: string;
  public readonly port: number;
  /** Node names of the API servers behind it. */
  public readonly backends: readonly string[];
  /** Container kind creates for it. */
  public readonly containerName: string;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    if (props.backends.length < 2) {
      throw new Error(`LoadBalancer: backends: ${props.backends.length} API server(s); a load balancer fronts at least 2`);
    }
    this.url = props.endpoint.url;
    this.address = props.endpoint.address;
    this.port = props.endpoint.port;
    this.backends = props.backends.map((b) => b.nodeName);
    this.containerName = `${props.backends[0].nodeName.replace(/-control-plane$/, "")}-external-load-balancer`;
  }
}
