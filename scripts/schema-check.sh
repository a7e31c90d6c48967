#!/usr/bin/env bash
# `kiln schema` and the CI recipes, checked with real validators from PyPI (pinned, in a venv
# under ~/.cache/kiln; the first run needs PyPI and fails without it):
#   * the schema is valid draft 2020-12; every manifests/*.yaml and Tests/SchemaChecks/accepted/*.yaml
#     validates against it and `kiln validate`;
#   * with --corpus DIR (the robustness suite's broken manifests, which BadInput writes there
#     when KILN_BAD_INPUT_CORPUS names it): whatever the schema rejects, `kiln validate` rejects;
#   * docs/ci/*.yml against GitHub's and Azure Pipelines' schemas (check-jsonschema's bundled
#     copies, no network), and the kiln commands they run against --help and the end-to-end tests.
# `make test` runs it after the Swift suite (scripts/test-with-emulator.sh); `make schema-check`
# alone checks the examples and the CI recipes.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=$(realpath "${KILN:-.build/debug/kiln}")
corpus=
if [ "${1:-}" = --corpus ]; then corpus=${2:?--corpus DIR}; fi
pins="jsonschema==4.26.0 PyYAML==6.0.3 check-jsonschema==0.39.0"
venv=${SCHEMA_CHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/schema-check}
if [ "$(cat "$venv/pins" 2>/dev/null)" != "$pins" ]; then
    echo "installing $pins into $venv"
    rm -rf "$venv" && python3 -m venv "$venv"
    # shellcheck disable=SC2086 # one argument per pin
    "$venv/bin/python" -m pip install -q --disable-pip-version-check $pins
    echo "$pins" >"$venv/pins"
fi
work=$(mktemp -d /tmp/kiln-schema.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$KILN" schema >"$work/schema.json"
"$venv/bin/python" Tests/SchemaChecks/schema_check.py --kiln "$KILN" --schema "$work/schema.json" \
    --examples manifests --examples Tests/SchemaChecks/accepted ${corpus:+--corpus "$corpus"}
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows docs/ci/github-actions.yml
# Azure's schema has patterns that ECMA-262's unicode mode refuses, hence nonunicode.
"$venv/bin/check-jsonschema" --builtin-schema vendor.azure-pipelines --regex-variant nonunicode \
    --data-transform azure-pipelines docs/ci/azure-pipelines.yml
"$venv/bin/python" Tests/SchemaChecks/ci_recipes_check.py --kiln "$KILN" docs/ci/github-actions.yml docs/ci/azure-pipelines.yml
