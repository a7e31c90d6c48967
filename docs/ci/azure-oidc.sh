# Sourced by the GitHub Actions jobs of docs/ci/github-actions.yml (copy it to .github/kiln/):
# writes the job's GitHub OIDC token (audience api://AzureADTokenExchange) to a file and points
# Kiln's environment credential at it (AZURE_FEDERATED_TOKEN_FILE, with AZURE_CLIENT_ID and
# AZURE_TENANT_ID). GitHub's tokens live minutes and Kiln reads the file for every Azure token,
# so a background loop rewrites it every 4 minutes until the step's shell exits.
AZURE_FEDERATED_TOKEN_FILE="$RUNNER_TEMP/azure-federated-token"
export AZURE_FEDERATED_TOKEN_FILE

kiln_ci_fetch_token() {
    local answer
    answer=$(curl -sSf --retry 3 -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
        "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=api://AzureADTokenExchange") || return 1
    # The answer is {"value":"<JWT>"}; a JWT holds no quotes.
    printf '%s' "$answer" | sed -n 's/.*"value"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' \
        >"$AZURE_FEDERATED_TOKEN_FILE.new" && [ -s "$AZURE_FEDERATED_TOKEN_FILE.new" ] &&
        mv "$AZURE_FEDERATED_TOKEN_FILE.new" "$AZURE_FEDERATED_TOKEN_FILE"
}

(umask 077; kiln_ci_fetch_token) || { echo "no OIDC token: does the workflow grant id-token: write?" >&2; exit 1; }
(umask 077; while sleep 240; do kiln_ci_fetch_token || echo "OIDC token refresh failed; retrying" >&2; done) &
kiln_ci_refresher=$!
trap 'kill "$kiln_ci_refresher" 2>/dev/null' EXIT
