#!/usr/bin/env bash
# Fidelity check: the Azure CLI (a pinned azure-cli from PyPI, unmodified) against
# `kiln emulator serve`. az reaches the emulator only through its proxy, under Azure's real
# names (stock AzureCloud), inside a network namespace of its own that has nothing but `lo`:
# az phones home (telemetry, version checks, MSAL instance discovery), and there it can reach
# nothing but the proxy, which refuses every host it does not emulate. Needs root (ip netns)
# and PyPI for the first install. `make sdk-check` runs it after scripts/sdk-check.sh.
#   KILN=path/to/kiln   AZ_CLI_VERSION=2.91.0   KEEP_GOING=1 (run every step, then a summary)
#   AZ_CHECK_EXCHANGES=FILE (keep the emulator's exchange log: every ARM request and answer)
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=$(realpath "${KILN:-.build/debug/kiln}")
AZ_CLI_VERSION=${AZ_CLI_VERSION:-2.91.0}
KEEP_GOING=${KEEP_GOING:-0}
venv=${AZ_CLI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/azure-cli-$AZ_CLI_VERSION}
missing=""
for tool in jq curl; do command -v $tool >/dev/null || missing="$missing $tool"; done
[ -z "$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; }
# Installing runs no az; the version is read from pip's metadata, not from `az version`
# (which would look for updates).
if [ "$("$venv/bin/python" -m pip show azure-cli 2>/dev/null | sed -n 's/^Version: //p')" != "$AZ_CLI_VERSION" ]; then
    echo "installing azure-cli $AZ_CLI_VERSION into $venv"
    rm -rf "$venv" && python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "azure-cli==$AZ_CLI_VERSION"
fi

ns=kiln-az-$$
work=$(mktemp -d /tmp/kiln-az.XXXXXX)
state=$work/state cfg=$work/azure
mkdir -p "$state" "$cfg"
cleanup() {
    [ -z "${AZ_CHECK_EXCHANGES:-}" ] || cp "$state/exchanges.jsonl" "$AZ_CHECK_EXCHANGES" 2>/dev/null || true
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up

echo "{\"exchangeLog\": \"$state/exchanges.jsonl\"}" >"$work/config.json"
: >"$state/exchanges.jsonl"
ip netns exec "$ns" "$KILN" emulator serve --state-dir "$state" --config "$work/config.json" --devices memory \
    >"$state/serve.log" 2>&1 &
for _ in $(seq 100); do [ -s "$state/endpoints.json" ] && break; sleep 0.1; done
[ -s "$state/endpoints.json" ] || { echo "the emulator did not start:"; cat "$state/serve.log"; exit 1; }
ep() { jq -r "$1" "$state/endpoints.json"; }
proxy=$(ep .proxy) ca=$(ep .caFile) control=$(ep .control) sub=$(ep .subscriptionId) loc=$(ep .location)
vmid=$(ep .builderVMId)

# az's settings: a config dir of its own, telemetry, survey and upgrade checks off, and a
# version cache saying this version is current (or its first run asks azcliprod.blob.core.windows.net).
core=$("$venv/bin/python" -c 'import azure.cli.core as c; print(c.__version__)')
echo "{\"versions\": {\"core\": {\"local\": \"$core\", \"pypi\": \"$core\"}}, \"update_time\": \"$(date '+%F %T.%6N')\"}" \
    >"$cfg/versionCheck.json"
cat >"$cfg/config" <<EOF
[core]
collect_telemetry = false
survey_message = false
no_color = true
only_show_errors = true
[auto-upgrade]
enable = no
EOF
# `env -i`: nothing from this shell's environment (NO_PROXY, a user's az config) leaks in.
az_() {
    ip netns exec "$ns" env -i PATH="$venv/bin:/usr/bin:/bin" HOME="$cfg" AZURE_CONFIG_DIR="$cfg" \
        HTTPS_PROXY="$proxy" HTTP_PROXY="$proxy" https_proxy="$proxy" http_proxy="$proxy" \
        SSL_CERT_FILE="$ca" REQUESTS_CA_BUNDLE="$ca" AZURE_CORE_COLLECT_TELEMETRY=false \
        AZURE_CORE_NO_COLOR=true AZURE_CORE_ONLY_SHOW_ERRORS=true AZURE_CORE_SURVEY_MESSAGE=false \
        "$venv/bin/az" "$@" --output json
}
requests() { ip netns exec "$ns" curl -sf "$control/requests?since=$1"; }
last_seq() { requests 0 | jq '[.[].sequence] | max // 0'; }

passed=() failed=()
# step LABEL JQ-CHECK az-args...: runs az (with --debug, into a file), then the check on its
# JSON output ("" = none). On failure: the command, az's error, each request az sent with its
# status (from --debug: the full URL, query included), the requests the emulator answered
# with an error (its request log, token endpoints included), and the ARM exchanges' bodies
# (the exchange log: those that failed, else the last one).
step() {
    local label=$1 check=$2; shift 2
    local seq lines
    seq=$(last_seq) lines=$(wc -l <"$state/exchanges.jsonl")
    if az_ "$@" --debug >"$work/out" 2>"$work/err" && { [ -z "$check" ] || jq -e "$check" "$work/out" >/dev/null 2>&1; }; then
        echo "PASS  $label"
        passed+=("$label")
        return 0
    fi
    echo "FAIL  $label"
    echo "      az $*"
    { grep -vE '^(DEBUG|INFO|WARNING): ' "$work/err" || true; } | tail -n 12 | cut -c1-600 | sed 's/^/      stderr: /'
    [ -n "$check" ] && echo "      check: $check" && head -c 800 "$work/out" | sed 's/^/      out: /'
    awk '/Request URL:/ {u = $NF} /Request method:/ {m = $NF} /Response status:/ {print "      sent: " m " " u " -> " $NF}' \
        "$work/err" | tr -d "'"
    requests "$seq" | jq -r '.[] | select(.status >= 400 or .status == 0)
        | "      emulator: \(.method) \(.host)\(.path) api-version=\(.apiVersion) -> \(.status)"'
    tail -n +"$((lines + 1))" "$state/exchanges.jsonl" | jq -sc '(map(select(.status >= 400)) | if . == [] then null else . end) // .[-1:] | .[]' \
        | cut -c1-1500 | sed 's/^/      exchange: /'
    failed+=("$label")
    [ "$KEEP_GOING" = 1 ] || exit 1
}

rg=azcheck-rg vmrg=$(cut -d/ -f5 <<<"$vmid") vm=${vmid##*/}
urn=Canonical:ubuntu-24_04-lts:server   # the emulator's default catalog
rid() { echo "/subscriptions/$sub/resourceGroups/$rg/providers/Microsoft.Compute/$1"; }

step "login (service principal, AzureCloud via the proxy)" 'length == 1 and .[0].id == "'"$sub"'"' \
    login --service-principal --username "$(ep .credential.clientId)" --password "$(ep .credential.clientSecret)" \
    --tenant "$(ep .tenantId)"
step "account set" '' account set --subscription "$sub"
step "account show" '.id == "'"$sub"'" and .tenantId == "'"$(ep .tenantId)"'"' account show

step "group create" '.name == "'$rg'" and .properties.provisioningState == "Succeeded"' \
    group create -n $rg -l "$loc" --tags kiln=azcheck
step "group show" '.location == "'"$loc"'" and .tags.kiln == "azcheck"' group show -n $rg
step "group list" 'map(.name) | index("'$rg'") != null' group list

step "disk create (empty, 1 GiB)" '.diskSizeGB == 1 and .provisioningState == "Succeeded" and .diskState == "Unattached"' \
    disk create -g $rg -n empty --size-gb 1 --tags kiln=azcheck
# The chain below (snapshot, image, gallery) starts from the disk of a named version, so that
# a failure to resolve "latest" (next step) is reported once, not by every later step.
step "disk create (platform image, version)" '.creationData.createOption == "FromImage" and .osType == "Linux" and .diskSizeGB >= 30' \
    disk create -g $rg -n fromimage --image-reference "$urn:24.04.202502010"
step "disk create (platform image, latest)" '.creationData.imageReference.id | ascii_downcase | endswith("/versions/24.04.202502010")' \
    disk create -g $rg -n latest --image-reference "$urn:latest"
step "disk delete (latest)" '' disk delete -g $rg -n latest --yes
step "disk show" '.name == "empty" and .id == "'"$(rid disks/empty)"'"' disk show -g $rg -n empty
step "disk list" 'map(.name) | index("empty") != null and index("fromimage") != null' disk list -g $rg
step "disk update --size-gb" '.diskSizeGB == 2' disk update -g $rg -n empty --size-gb 2
step "disk grant-access" '(.accessSas // .accessSAS // "") | startswith("https://")' \
    disk grant-access -g $rg -n empty --duration-in-seconds 3600 --access-level Read
step "disk revoke-access" '' disk revoke-access -g $rg -n empty

step "snapshot create" '.creationData.sourceResourceId == "'"$(rid disks/fromimage)"'" and .provisioningState == "Succeeded"' \
    snapshot create -g $rg -n snap --source fromimage
step "snapshot show" '.name == "snap" and .diskSizeGB >= 30' snapshot show -g $rg -n snap
step "snapshot list" 'map(.name) == ["snap"]' snapshot list -g $rg

step "image create (from snapshot)" '.storageProfile.osDisk.osType == "Linux" and .provisioningState == "Succeeded"' \
    image create -g $rg -n img --source snap --os-type Linux --hyper-v-generation V2
step "image show" '.storageProfile.osDisk.snapshot.id == "'"$(rid snapshots/snap)"'"' image show -g $rg -n img
step "image list" 'map(.name) == ["img"]' image list -g $rg

step "sig create" '.name == "gal" and .provisioningState == "Succeeded"' sig create -g $rg -r gal
step "sig show" '.name == "gal"' sig show -g $rg -r gal
step "sig list" 'map(.name) == ["gal"]' sig list -g $rg
step "sig image-definition create" '.osType == "Linux" and .osState == "Generalized" and .hyperVGeneration == "V2"' \
    sig image-definition create -g $rg -r gal -i def -p Kiln -f azcheck -s base --os-type Linux \
    --os-state Generalized --hyper-v-generation V2
step "sig image-definition show" '.identifier.publisher == "Kiln"' sig image-definition show -g $rg -r gal -i def
step "sig image-definition list" 'map(.name) == ["def"]' sig image-definition list -g $rg -r gal
step "sig image-version create (--managed-image)" '.provisioningState == "Succeeded" and .storageProfile.source.id == "'"$(rid images/img)"'"' \
    sig image-version create -g $rg -r gal -i def -e 1.0.0 --managed-image img --target-regions "$loc"
step "sig image-version create (--os-snapshot)" '.provisioningState == "Succeeded"' \
    sig image-version create -g $rg -r gal -i def -e 1.0.1 --os-snapshot snap --target-regions "$loc"
step "sig image-version show --expand ReplicationStatus" '.replicationStatus.summary | map(.region) | length == 1' \
    sig image-version show -g $rg -r gal -i def -e 1.0.0 --expand ReplicationStatus
step "sig image-version list" 'map(.name) | sort == ["1.0.0","1.0.1"]' sig image-version list -g $rg -r gal -i def
step "sig image-version update --target-regions (+eastus)" '.publishingProfile.targetRegions | length == 2' \
    sig image-version update -g $rg -r gal -i def -e 1.0.0 --target-regions "$loc" eastus
step "sig image-version delete (1.0.0)" '' sig image-version delete -g $rg -r gal -i def -e 1.0.0
step "sig image-version delete (1.0.1)" '' sig image-version delete -g $rg -r gal -i def -e 1.0.1
step "sig image-definition delete" '' sig image-definition delete -g $rg -r gal -i def
step "sig delete" '' sig delete -g $rg -r gal

step "vm show (builder VM)" '.id == "'"$vmid"'" and .hardwareProfile.vmSize != null' vm show --ids "$vmid"
step "vm disk attach" '' vm disk attach -g "$vmrg" --vm-name "$vm" --name "$(rid disks/empty)" --lun 0
step "vm show (disk attached)" '.storageProfile.dataDisks | map(.name) == ["empty"]' vm show --ids "$vmid"
step "vm disk detach" '' vm disk detach -g "$vmrg" --vm-name "$vm" --name empty
step "disk show (detached)" '.diskState == "Unattached" and .managedBy == null' disk show -g $rg -n empty

step "vm image list-publishers" 'map(.name) | index("Canonical") != null' vm image list-publishers -l "$loc"
step "vm image list-offers" 'map(.name) | index("ubuntu-24_04-lts") != null' vm image list-offers -l "$loc" -p Canonical
step "vm image list-skus" 'map(.name) | sort == ["server","server-gen1"]' \
    vm image list-skus -l "$loc" -p Canonical -f ubuntu-24_04-lts
step "vm image list --all -p Canonical" 'map(.urn) | index("'"$urn"':24.04.202502010") != null' \
    vm image list --all -p Canonical -l "$loc"
step "vm image show --urn" '.name == "24.04.202502010" and .hyperVGeneration == "V2"' \
    vm image show --urn "$urn:24.04.202502010" -l "$loc"
step "vm image show --urn :latest" '.name == "24.04.202502010"' vm image show --urn "$urn:latest" -l "$loc"

step "resource list -g" 'map(.name) | sort == ["empty","fromimage","img","snap"]' resource list -g $rg
step "resource show --ids" '.name == "empty" and .type == "Microsoft.Compute/disks"' resource show --ids "$(rid disks/empty)"
step "resource list --tag kiln=azcheck" 'map(.name) == ["empty"]' resource list --tag kiln=azcheck

step "image delete" '' image delete -g $rg -n img
step "snapshot delete" '' snapshot delete -g $rg -n snap
step "disk delete (empty)" '' disk delete -g $rg -n empty --yes
step "disk delete (fromimage)" '' disk delete -g $rg -n fromimage --yes
step "resource list -g (empty after the deletes)" 'length == 0' resource list -g $rg

# Anything else az tried to reach: the proxy refused it (and the namespace has no other way out).
refused=$(requests 0 | jq -r '[.[] | select(.host == "proxy") | .path] | unique | join(", ")')
[ -z "$refused" ] || echo "note: the proxy refused az's requests to $refused"
echo "az $AZ_CLI_VERSION against the emulator: ${#passed[@]} passed, ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "  FAIL $f"; done
[ ${#failed[@]} -eq 0 ]
