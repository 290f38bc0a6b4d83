#!/usr/bin/env bash
# Installs the clients the simulator's SDK tests run (tests/it/sdk.rs): AgentMail's
# official Python and TypeScript SDKs at pinned versions, and the `ws` and `express`
# packages the article's Node code imports; and the official Model Context Protocol
# SDKs (Python `mcp`, npm `@modelcontextprotocol/sdk`) the MCP server's tests drive
# (crates/mailwire-cli/tests/it/mcp.rs). Idempotent: a stamp file records what is
# installed, so a second run costs nothing. And AgentMail's toolkit (PyPI
# `agentmail-toolkit`), whose every tool tests/it/sdk.rs calls.
#
#   install-sdks.sh DIR   (default: target/sdk under the workspace)
#
# The tests find DIR through MAILWIRE_SDK_DIR (default the same path).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/../../../../target/sdk}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

PY_PKGS="agentmail==2.0.18 agentmail-toolkit==0.3.2 mcp==2.3.0"
JS_PKGS="agentmail@0.5.27 ws@8.18.3 express@4.21.2 @modelcontextprotocol/sdk@1.32.2"
stamp="$PY_PKGS $JS_PKGS"
if [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

python3 -m venv "$dir/venv"
# shellcheck disable=SC2086 # one word per package
"$dir/venv/bin/pip" install --quiet --disable-pip-version-check $PY_PKGS

mkdir -p "$dir/node"
if [ ! -f "$dir/node/package.json" ]; then
    printf '{"name":"mailwire-sdk-tests","private":true}\n' > "$dir/node/package.json"
fi
# shellcheck disable=SC2086 # one word per package
(cd "$dir/node" && npm install --silent --no-audit --no-fund --save-exact $JS_PKGS)

echo "$stamp" > "$dir/stamp"
