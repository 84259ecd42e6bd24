import { File } from "@cdktf/provider-local/lib/file";
import { Construct } from "constructs";
import { controlPlaneBackends, renderHaproxyConfig, type HaproxyConfigProps } from "../lib/model/haproxy-config";
import { kindLoadBalancerName, type ApiEndpoint } from "../lib/model/topology";
import type { ControlPlaneNode } from "./control-plane-node";

/** An external HAProxy in front of the API servers; backends come from the control planes. */
export type ExternalHaproxyProps = Omit<HaproxyConfigProps, "backends"> & {
  /**
   * Address haproxy reaches each API server at.
   * @default - the node name (resolvable on kind's docker network)
   */
  readonly backendAddress?: (nodeName: string) => string;
};

export interface LoadBalancerProps {
  /** kind cluster name; the load balancer's container is named after it. */
  readonly clusterName: string;
  /** The API endpoint the load balancer serves. */
  readonly endpoint: ApiEndpoint;
  /** API servers behind it, one per control plane. */
  readonly backends: readonly ControlPlaneNode[];
}

/**
 * The load balancer in front of the API servers of an HA cluster.
 *
 * kind runs one as the `<cluster>-external-load-balancer` container (Envoy from kind v0.32,
 * HAProxy before) on `networking.apiServerAddress:apiServerPort`; this construct holds that
 * contract so the rest of the stack reads one typed endpoint, and can render an HAProxy config
 * for an external load balancer as production puts one in front of its control planes.
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
  private external?: File;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    if (props.backends.length < 2) {
      throw new Error(`LoadBalancer: backends: ${props.backends.length} API server(s); a load balancer fronts at least 2`);
    }
    this.url = props.endpoint.url;
    this.address = props.endpoint.address;
    this.port = props.endpoint.port;
    this.backends = props.backends.map((b) => b.nodeName);
    this.containerName = kindLoadBalancerName(props.clusterName);
  }

  /**
   * Renders an HAProxy config for a production-style external load balancer in front of these API
   * servers, written with the local provider to `haproxy.cfg` beside the stack: one backend per
   * control plane, bound at this load balancer's address and port unless `props` says otherwise.
   */
  public addExternalHaproxy(props: ExternalHaproxyProps = {}): File {
    if (this.external) throw new Error(`LoadBalancer ${this.node.path}: it has an external HAProxy config already`);
    const { backendAddress, ...haproxy } = props;
    this.external = new File(this, "HaproxyConfig", {
      filename: "${path.module}/haproxy.cfg",
      content: renderHaproxyConfig({
        bindAddress: this.address,
        bindPort: this.port,
        ...haproxy,
        backends: controlPlaneBackends(
          this.backends.map((name) => ({ name })),
          backendAddress && ((node) => backendAddress(node.name)),
        ),
      }),
      filePermission: "0644",
    });
    return this.external;
  }

  /** The external HAProxy config file, once {@link addExternalHaproxy} made it. */
  public get haproxyConfig(): File | undefined {
    return this.external;
  }
}
