/**
 * The three topologies the platform ships, switched on in this one place.
 */
import type { Availability, TopologySpec } from "./topology";

/** Stack ids of the shipped topologies: option C (single), B and A. */
export type TopologyOption = "single" | "ha-option-b" | "ha-option-a";
export const TOPOLOGY_OPTIONS: readonly TopologyOption[] = ["single", "ha-option-b", "ha-option-a"];

export interface Preset {
  readonly availability: Availability;
  readonly spec: TopologySpec;
}

export function preset(option: TopologyOption): Preset {
  switch (option) {
    case "single":
      return {
        availability: "single",
        spec: { controlPlanes: 1, workers: [{ role: "combined" }] },
      };
    case "ha-option-b":
      return {
        availability: "ha",
        spec: { controlPlanes: 3, workers: [{ role: "combined" }] },
      };
    case "ha-option-a":
      return {
        availability: "ha",
        spec: { controlPlanes: 3, workers: [{ role: "infrastructure" }, { role: "workload" }] },
      };
  }
}
