#!/bin/sh
# Runs inside the image's chroot. Arguments and GREETING come from the manifest.
set -eu
role=""
while [ $# -gt 0 ]; do
    case "$1" in
        --role) role="$2"; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
mkdir -p /etc/kiln
printf '%s\n' "${GREETING:-}" > /etc/kiln/greeting
printf 'role=%s\n' "$role" > /etc/kiln/role
echo "setup done for role $role"
