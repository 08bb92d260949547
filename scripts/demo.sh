#!/usr/bin/env bash
# Accord's main job: install what is missing, bring the stack up, and print its status.
# (Later: deploy the reference systems and print the coordination report.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"

bash scripts/setup.sh
bash scripts/accord up
echo
bash scripts/accord status
echo
echo "The stack keeps running. Stop it with: scripts/accord down"
