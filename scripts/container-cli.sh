# Sourced by the scripts that drive node containers: the one rule for the container CLI, the way
# kind picks its provider: KINDHA_CONTAINER_CLI, else KIND_EXPERIMENTAL_PROVIDER, else docker.
# The Node tools ask this file for it (lib/io/container-cli.ts) and hand their choice on as
# KINDHA_CONTAINER_CLI.
cli="${KINDHA_CONTAINER_CLI:-${KIND_EXPERIMENTAL_PROVIDER:-docker}}"
