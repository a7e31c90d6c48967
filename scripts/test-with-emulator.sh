#!/usr/bin/env bash
# Runs the test suite with a `kiln emulator` serving in the background (HTTPS with its own
# CA, in-memory devices), so the Azure client's integration tests talk to a real emulator
# over the network. The emulator is stopped however the tests end.
set -euo pipefail
KILN=${KILN:-.build/debug/kiln}
SWIFT=${SWIFT:-swift}
state=$(mktemp -d /tmp/kiln-test-emulator.XXXXXX)
# Short-lived tokens, so the clients' refresh paths run (and the expiry test has something to test).
printf '{"tokenLifetimeSeconds": 10}\n' >"$state/config.json"
"$KILN" emulator serve --state-dir "$state" --config "$state/config.json" --devices memory --tls >"$state/serve.log" 2>&1 &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$state"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    [ -s "$state/endpoints.json" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then echo "the emulator did not start:"; cat "$state/serve.log"; exit 1; fi
    sleep 0.1
done
[ -s "$state/endpoints.json" ] || { echo "the emulator wrote no endpoints.json"; cat "$state/serve.log"; exit 1; }
KILN_EMULATOR_ENDPOINTS="$state/endpoints.json" "$SWIFT" test "$@"
