#!/usr/bin/env bash
# Fidelity check: the official Azure SDK for Python against `kiln emulator serve`, unmodified,
# over HTTPS with the emulator's CA. Both run inside a network namespace of their own that has
# nothing but `lo`, so the SDK cannot reach anything else. Needs root (ip netns) and PyPI for
# the packages (azure-storage-blob pinned: AZURE_STORAGE_BLOB_VERSION). Not part of `make test`:
# it depends on PyPI being reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-.build/debug/kiln}
AZURE_STORAGE_BLOB_VERSION=${AZURE_STORAGE_BLOB_VERSION:-12.31.1}
python3 -m pip install -q azure-identity azure-mgmt-compute "azure-storage-blob==$AZURE_STORAGE_BLOB_VERSION"
ns=kiln-sdk-$$
state=$(mktemp -d /tmp/kiln-sdk.XXXXXX)
ip netns add "$ns"
cleanup() { ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" bash -c '
    "$0" emulator serve --state-dir "$1" --devices memory >"$1/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -s "$1/endpoints.json" ] && break; sleep 0.1; done
    ca=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(\"caFile\") or \"\")" "$1/endpoints.json")
    EP="$1/endpoints.json" REQUESTS_CA_BUNDLE="$ca" SSL_CERT_FILE="$ca" timeout 300 python3 scripts/sdk-check.py
    status=$?
    if [ $status -eq 0 ]; then
        EP="$1/endpoints.json" REQUESTS_CA_BUNDLE="$ca" SSL_CERT_FILE="$ca" timeout 300 python3 scripts/sdk-check-blob.py
        status=$?
    fi
    kill "$pid"; wait "$pid" || true
    exit $status' "$KILN" "$state"
