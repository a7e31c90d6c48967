#!/usr/bin/env bash
# `make install` and `make uninstall` into a temporary DESTDIR: every file is there, the man
# pages and completions are well-formed, the installed kiln names this commit in --version and
# prints the installed schema, and uninstall leaves no file behind. `make install-check` runs it
# (a release build: not part of `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
destdir=$(mktemp -d /tmp/kiln-install.XXXXXX)
trap 'rm -rf "$destdir"' EXIT
prefix=/usr/local
root=$destdir$prefix
failures=0
check() { # DESCRIPTION COMMAND...
    if "${@:2}" >/dev/null 2>&1; then echo "install-check: ok: $1"; else echo "install-check: FAIL: $1"; failures=$((failures + 1)); fi
}

commit=$(git rev-parse --short=12 HEAD)
make --no-print-directory install DESTDIR="$destdir" PREFIX="$prefix" SWIFT="$SWIFT"
version=$("$root/bin/kiln" --version)
echo "install-check: kiln --version: $version"
check "kiln --version names the commit $commit" grep -q "(commit $commit" <<<"$version"
for f in bin/kiln share/man/man1/kiln.1 share/bash-completion/completions/kiln share/zsh/site-functions/_kiln \
    share/fish/vendor_completions.d/kiln.fish share/kiln/manifest.schema.json share/kiln/installed-files; do
    check "$f" test -s "$root/$f"
done
for sub in validate plan apply destroy drift graph schema emulator; do
    check "man page of kiln $sub" grep -q '^\.Dt KILN\.'"${sub^^}"' 1' "$root/share/man/man1/kiln.$sub.1"
done
check "kiln.1 is an mdoc page" grep -q '^\.Dt KILN 1' "$root/share/man/man1/kiln.1"
check "the bash completion parses" bash -n "$root/share/bash-completion/completions/kiln"
check "the bash completion defines _kiln" bash -c ". '$root/share/bash-completion/completions/kiln' && declare -F _kiln"
for shell in zsh fish; do
    file=$root/share/zsh/site-functions/_kiln
    [ "$shell" = fish ] && file=$root/share/fish/vendor_completions.d/kiln.fish
    if command -v "$shell" >/dev/null; then
        check "the $shell completion parses" "$shell" -n "$file"
    else
        echo "install-check: skipped: the $shell completion's syntax (no $shell here; apt-get install $shell)"
    fi
done
if command -v groff >/dev/null; then
    # groff overstrikes bold text (c BACKSPACE c); the sed takes that out.
    check "kiln.apply.1 renders" \
        bash -c "groff -mandoc -Tutf8 '$root/share/man/man1/kiln.apply.1' | sed 's/.\x08//g' | grep -q -- --artifact"
fi
check "the installed schema is kiln schema's" cmp -s <("$root/bin/kiln" schema) "$root/share/kiln/manifest.schema.json"
check "installed-files lists every installed file" \
    diff <(cd "$root" && find . -type f ! -name installed-files | sed 's|^\./||' | sort) <(sort "$root/share/kiln/installed-files")
listed=$(wc -l <"$root/share/kiln/installed-files")

make --no-print-directory uninstall DESTDIR="$destdir" PREFIX="$prefix"
left=$(find "$destdir" -type f | wc -l)
check "make uninstall removed all $listed files ($left left)" test "$left" -eq 0
check "make uninstall removed share/kiln" test ! -e "$root/share/kiln"
[ "$failures" -eq 0 ] || { echo "install-check: $failures checks failed"; exit 1; }
echo "install-check: every check passed ($listed files installed and removed)"
