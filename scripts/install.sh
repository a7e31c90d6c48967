#!/usr/bin/env bash
# `make install` and `make uninstall`: a release build of kiln, its man pages (swift-argument-
# parser's manual generator), bash/zsh/fish completions and the manifest's JSON Schema, under
# DESTDIR + PREFIX. Every installed file is listed in PREFIX/share/kiln/installed-files, which
# is what `make uninstall` removes (and nothing else).
#   scripts/install.sh install|uninstall   (PREFIX, DESTDIR, SWIFT and KILN_COMMIT from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: scripts/install.sh install|uninstall}
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SWIFT=${SWIFT:-swift}
root="$DESTDIR$PREFIX"
list=share/kiln/installed-files

uninstall() {
    if [ ! -f "$root/$list" ]; then
        echo "kiln is not installed under $root (no $list)"
        return 0
    fi
    while IFS= read -r relative; do
        [ -n "$relative" ] && rm -f "$root/$relative"
    done <"$root/$list"
    rm -f "$root/$list"
    rmdir "$root/share/kiln" 2>/dev/null || true
    echo "removed kiln from $root"
}

install_kiln() {
    # The commit `kiln --version` names (Package.swift hands KILN_COMMIT to the build); a tree
    # with uncommitted changes says so. Outside a git checkout, set KILN_COMMIT yourself.
    if [ -z "${KILN_COMMIT:-}" ] && commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
        if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
        export KILN_COMMIT=$commit
    fi
    "$SWIFT" build -c release --product kiln
    local bin
    bin="$("$SWIFT" build -c release --show-bin-path)/kiln"
    # The manual generator builds the package's products (release, already built above) and
    # runs each command-line tool's --experimental-dump-help: one page per command.
    local pages=.build/plugins/GenerateManual/outputs/kiln
    rm -rf "$pages" # no page of a command an older build had
    "$SWIFT" package plugin generate-manual --multi-page
    compgen -G "$pages/kiln.1" >/dev/null || { echo "the manual generator wrote no $pages/kiln.1"; exit 1; }

    local staging
    staging=$(mktemp -d)
    trap 'rm -rf "$staging"' RETURN
    "$bin" --generate-completion-script bash >"$staging/kiln.bash"
    "$bin" --generate-completion-script zsh >"$staging/_kiln"
    "$bin" --generate-completion-script fish >"$staging/kiln.fish"
    "$bin" schema >"$staging/manifest.schema.json"

    uninstall >/dev/null # a page or file of an older install that this one no longer has
    local installed=()
    put() { # MODE SOURCE RELATIVE-DESTINATION
        install -D -m "$1" "$2" "$root/$3"
        installed+=("$3")
    }
    put 0755 "$bin" bin/kiln
    for page in "$pages"/*.1; do put 0644 "$page" "share/man/man1/$(basename "$page")"; done
    put 0644 "$staging/kiln.bash" share/bash-completion/completions/kiln
    put 0644 "$staging/_kiln" share/zsh/site-functions/_kiln
    put 0644 "$staging/kiln.fish" share/fish/vendor_completions.d/kiln.fish
    put 0644 "$staging/manifest.schema.json" share/kiln/manifest.schema.json
    printf '%s\n' "${installed[@]}" >"$root/$list"
    echo "installed kiln $("$root/bin/kiln" --version) under $root: ${#installed[@]} files (listed in $root/$list)"
}

case $action in
    install) install_kiln ;;
    uninstall) uninstall ;;
    *) echo "usage: scripts/install.sh install|uninstall" >&2; exit 2 ;;
esac
