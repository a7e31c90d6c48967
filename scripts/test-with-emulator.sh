#!/usr/bin/env bash
# Runs the test suite with a `kiln emulator` serving in the background (in-memory devices),
# so the Azure client's integration tests talk to a real emulator over the network. The
# emulator is stopped however the tests end.
set -euo pipefail
KILN=${KILN:-.build/debug/kiln}
SWIFT=${SWIFT:-swift}
state=$(mktemp -d /tmp/kiln-test-emulator.XXXXXX)
# A certificate (made now, never committed) and a federated token for a second app, so every
# credential kind gets a token from the emulator's Entra endpoint.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=kiln-test -days 1 \
    -keyout "$state/app.key" -out "$state/app.crt" >/dev/null 2>&1
cat "$state/app.crt" "$state/app.key" >"$state/app.pem"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
claims=$(printf '{"iss":"https://kiln.test/issuer","sub":"system:serviceaccount:kiln:builder","aud":"api://AzureADTokenExchange","iat":%d,"nbf":%d,"exp":%d}' \
    "$now" "$now" $((now + 3600)) | b64url)
printf '%s.%s.%s' "$header" "$claims" "$(printf 'unsigned' | b64url)" >"$state/federated.jwt"
app=33333333-3333-3333-3333-333333333333
mkdir -p "$state/exchanges"
# Short-lived tokens, so the clients' refresh paths run (and the expiry test has something to
# test); short pages, so their paging runs; every ARM exchange logged for the spec check below.
cat >"$state/config.json" <<JSON
{
  "tokenLifetimeSeconds": 10,
  "pageSize": 2,
  "exchangeLog": "$state/exchanges/integration-emulator.jsonl",
  "clients": [
    {"clientID": "00000000-0000-0000-0000-00000000c1d0", "secret": "kiln-emulator-secret"},
    {"clientID": "$app", "secret": null, "certificates": ["$state/app.crt"],
     "federated": [{"issuer": "https://kiln.test/issuer", "subject": "system:serviceaccount:kiln:builder"}]}
  ]
}
JSON
export KILN_EMULATOR_CERTIFICATE_CLIENT_ID=$app KILN_EMULATOR_CERTIFICATE_PATH="$state/app.pem"
export KILN_EMULATOR_FEDERATED_CLIENT_ID=$app KILN_EMULATOR_FEDERATED_TOKEN_FILE="$state/federated.jwt"
"$KILN" emulator serve --state-dir "$state" --config "$state/config.json" --devices memory >"$state/serve.log" 2>&1 &
pid=$!
replay_pid=
cleanup() {
    for p in $pid $replay_pid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$state"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    [ -s "$state/endpoints.json" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then echo "the emulator did not start:"; cat "$state/serve.log"; exit 1; fi
    sleep 0.1
done
[ -s "$state/endpoints.json" ] || { echo "the emulator wrote no endpoints.json"; cat "$state/serve.log"; exit 1; }
export KILN_EMULATOR_ENDPOINTS="$state/endpoints.json"
# Every emulator the end-to-end tests serve logs its ARM exchanges here (ServedEmulator).
export KILN_EXCHANGE_LOG_DIR="$state/exchanges"
# One run of the whole suite (or what the arguments select): the end-to-end tests await the
# processes they start, and mount and lock under their own scratch directories.
# BadInput writes its corpus of broken manifests to KILN_BAD_INPUT_CORPUS for the schema check.
export KILN_BAD_INPUT_CORPUS="$state/bad-input-corpus"
"$SWIFT" test "$@"
# `kiln schema` against the examples and that corpus (what the schema rejects, validate
# rejects), and the CI recipes: always after the whole suite, after a filtered one if it ran BadInput.
if [ $# -eq 0 ] || [ -d "$KILN_BAD_INPUT_CORPUS" ]; then
    KILN="$KILN" scripts/schema-check.sh --corpus "$KILN_BAD_INPUT_CORPUS"
fi
# Azure's published API is the judge, not our emulator: the validator's own tests, then every
# request Kiln sent and every answer the emulator gave, against the pinned specifications
# (Tests/AzureSpecs). Operation-status URLs are in no specification; known-differences.json
# lists where real Azure itself departs from its specification, with the source.
python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
if compgen -G "$KILN_EXCHANGE_LOG_DIR/*.jsonl" >/dev/null; then
    cat "$KILN_EXCHANGE_LOG_DIR"/*.jsonl >"$state/exchanges.jsonl"
    python3 Tests/AzureSpecs/azspec.py validate "$state/exchanges.jsonl" --allow lro-status \
        --known Tests/AzureSpecs/known-differences.json --if-available
fi
# Azure's own examples (`x-ms-examples` of the pinned specifications) replayed against a fresh
# emulator: each gets the example's status and an answer of its shape, or is listed with the
# reason in replay-exceptions.json (Tests/AzureSpecs/README.md). Skipped, saying so, without
# the specifications.
mkdir -p "$state/replay"
"$KILN" emulator serve --state-dir "$state/replay" --devices memory --no-tls --no-proxy >"$state/replay.log" 2>&1 &
replay_pid=$!
for _ in $(seq 1 100); do [ -s "$state/replay/endpoints.json" ] && break; sleep 0.1; done
python3 Tests/AzureSpecs/replay.py --endpoints "$state/replay/endpoints.json" --if-available --details \
    --json "$state/replay.json" >"$state/replay.txt" || { cat "$state/replay.txt"; exit 1; }
tail -n 1 "$state/replay.txt"
