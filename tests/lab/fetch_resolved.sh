#!/usr/bin/env bash
# Fetches a real systemd-resolved for the lab's per-link DNS scenarios (tests/lab/resolvedfaults.py)
# WITHOUT installing it: installing the systemd-resolved package would take over this machine's
# /etc/resolv.conf (and break DNS for whatever runs next, CI included).
#
#   - downloads systemd-resolved and libsystemd-shared at the SAME version, the mirror's
#     candidate (`apt-get download`, no dpkg database touched). Both, because resolved links
#     against libsystemd-shared-252.so, whose installed copy may be older than the only
#     systemd-resolved the mirror still carries (a machine on 252.38, the mirror on 252.39);
#   - extracts both into one root (`dpkg -x`): $DEST/root;
#   - writes $DEST/env with the two paths the lab needs (the binary's LD_LIBRARY_PATH: the
#     extracted lib dir, which precedes the binary's RUNPATH) and checks with ldd that
#     systemd-resolved and resolvectl take the extracted libsystemd-shared and find every other
#     library on this machine; then starts nothing.
#
# Idempotent: does nothing when $DEST already holds that version. Needs root (apt-get download
# into a root-owned cache), network to the Debian mirror, and up-to-date package lists (it runs
# `apt-get update` once when a download fails).
# Usage (root): tests/lab/fetch_resolved.sh [DEST]   (default /var/cache/whynet-lab/resolved,
# which the lab reads; another DEST needs WHYNET_LAB_RESOLVED=DEST when running the tests).
# WHYNET_RESOLVED_VERSION=V fetches version V instead of the candidate (one the mirror has).
set -euo pipefail
DEST=${1:-${WHYNET_LAB_RESOLVED:-/var/cache/whynet-lab/resolved}}
PACKAGES=(systemd-resolved libsystemd-shared)

# shellcheck source=tests/lab/fetch_lib.sh
. "$(dirname "$0")/fetch_lib.sh"
version=${WHYNET_RESOLVED_VERSION:-$(candidate systemd-resolved)}
if [ -z "$version" ]; then
    echo "fetch_resolved: the package lists have no systemd-resolved" >&2
    exit 1
fi
if [ "$(cat "$DEST/version" 2>/dev/null)" = "$version" ] && [ -x "$DEST/root/lib/systemd/systemd-resolved" ]; then
    echo "fetch_resolved: $DEST already holds systemd-resolved $version"
    exit 0
fi

mkdir -p "$DEST"
work=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
extract_debs "$work" "${PACKAGES[@]/%/=$version}"

resolved=$work/root/lib/systemd/systemd-resolved
[ -x "$resolved" ] || resolved=$work/root/usr/lib/systemd/systemd-resolved
shared=$(find "$work/root" -name 'libsystemd-shared-*.so' -print -quit)
if [ ! -x "$resolved" ] || [ -z "$shared" ] || [ ! -x "$work/root/usr/bin/resolvectl" ]; then
    echo "fetch_resolved: the packages of $version lack systemd-resolved, resolvectl or libsystemd-shared" >&2
    exit 1
fi
final_libdir=$DEST/root/${shared#"$work/root/"}
final_libdir=${final_libdir%/*}
for binary in "$resolved" "$work/root/usr/bin/resolvectl"; do
    libs=$(LD_LIBRARY_PATH=$(dirname "$shared") ldd "$binary")
    if grep -q 'not found' <<<"$libs"; then
        echo "fetch_resolved: $binary misses libraries on this machine:" >&2
        grep 'not found' <<<"$libs" >&2
        exit 1
    fi
    if ! grep -q "libsystemd-shared.* => $(dirname "$shared")/" <<<"$libs"; then
        echo "fetch_resolved: $binary does not take the extracted $shared:" >&2
        echo "$libs" >&2
        exit 1
    fi
done

rm -rf "$DEST/root"
mv "$work/root" "$DEST/root"
{
    echo "RESOLVED=$DEST/root/${resolved#"$work/root/"}"
    echo "RESOLVECTL=$DEST/root/usr/bin/resolvectl"
    echo "LIBDIR=$final_libdir"
} > "$DEST/env"
echo "$version" > "$DEST/version"
echo "fetch_resolved: systemd-resolved $version extracted into $DEST/root (not installed)"
