# Sourced by the scripts that drive node containers: the one rule for the container CLI, the way
# kind picks its provider: KINDHA_CONTAINER_CLI, else KIND_EXPERIMENTAL_PROVIDER, else docker.
# The Node tools apply the same rule (tools/cli.ts containerCli; a unit test holds the two equal)
# and hand their choice on as KINDHA_CONTAINER_CLI.
cli="${KINDHA_CONTAINER_CLI:-${KIND_EXPERIMENTAL_PROVIDER:-docker}}"
