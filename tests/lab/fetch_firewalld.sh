#!/usr/bin/env bash
# Fetches a real firewalld for the lab's firewalld scenarios (tests/lab/fwdfaults.py) WITHOUT
# installing it. Installing the firewalld package is harmless to the host's firewall where no
# service manager starts it (a container: no systemd, policy-rc.d), but it would put
# firewall-cmd and firewall-offline-cmd on this machine's PATH: every other whynet run, in every
# other lab test, would then meet an installed, stopped firewalld (and wait on its offline
# tool), which is not the machine those tests describe. So, as tests/lab/fetch_resolved.sh does
# for systemd-resolved:
#
#   - downloads firewalld, python3-firewall and python3-nftables at the mirror's candidate
#     versions (`apt-get download`, no dpkg database touched). The other dependencies
#     (python3-dbus, python3-gi, libnftables1, dbus-daemon) are what CI's .ci/run installs;
#     NetworkManager's typelib (gir1.2-nm-1.0) is optional to firewalld and left out;
#   - extracts them into one root (`dpkg -x`): $DEST/root;
#   - writes two wrappers, $DEST/bin/firewall-cmd and $DEST/bin/firewall-offline-cmd, that
#     run the extracted tools with the extracted Python modules, and $DEST/env naming the
#     daemon, its default configuration and the Python path; checks that the extracted modules
#     import (firewall.config, nftables with this machine's libnftables) and starts nothing.
#
# Idempotent: does nothing when $DEST already holds that version. Needs root (apt-get download
# into a root-owned cache), network to the Debian mirror, and up-to-date package lists (it runs
# `apt-get update` once when a download fails).
# Usage (root): tests/lab/fetch_firewalld.sh [DEST]   (default /var/cache/whynet-lab/firewalld,
# which the lab reads; another DEST needs WHYNET_LAB_FIREWALLD=DEST when running the tests).
set -euo pipefail
DEST=${1:-${WHYNET_LAB_FIREWALLD:-/var/cache/whynet-lab/firewalld}}
PACKAGES=(firewalld python3-firewall python3-nftables)

# shellcheck source=tests/lab/fetch_lib.sh
. "$(dirname "$0")/fetch_lib.sh"
version=$(candidate firewalld)
if [ -z "$version" ]; then
    echo "fetch_firewalld: the package lists have no firewalld" >&2
    exit 1
fi
if [ "$(cat "$DEST/version" 2>/dev/null)" = "$version" ] && [ -x "$DEST/bin/firewall-cmd" ]; then
    echo "fetch_firewalld: $DEST already holds firewalld $version"
    exit 0
fi

mkdir -p "$DEST"
work=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
extract_debs "$work" "${PACKAGES[@]}"

pythonpath=$work/root/usr/lib/python3/dist-packages
for file in usr/sbin/firewalld usr/bin/firewall-cmd usr/bin/firewall-offline-cmd \
            usr/lib/firewalld/zones/public.xml etc/firewalld/firewalld.conf; do
    if [ ! -e "$work/root/$file" ]; then
        echo "fetch_firewalld: the packages of $version lack /$file" >&2
        exit 1
    fi
done
if ! PYTHONPATH=$pythonpath /usr/bin/python3 -c 'import dbus, gi, firewall.config, nftables; nftables.Nftables()'; then
    echo "fetch_firewalld: the extracted firewalld cannot import its modules on this machine" \
         "(python3-dbus, python3-gi and libnftables1 must be installed)" >&2
    exit 1
fi

final=$DEST/root
mkdir "$work/bin"
for tool in firewall-cmd firewall-offline-cmd; do
    cat > "$work/bin/$tool" <<WRAPPER
#!/bin/sh
# The extracted $tool (tests/lab/fetch_firewalld.sh), with its extracted Python modules.
PYTHONPATH=$final/usr/lib/python3/dist-packages exec /usr/bin/python3 $final/usr/bin/$tool "\$@"
WRAPPER
    chmod 755 "$work/bin/$tool"
done

rm -rf "$DEST/root" "$DEST/bin"
mv "$work/root" "$DEST/root"
mv "$work/bin" "$DEST/bin"
{
    echo "FIREWALLD=$final/usr/sbin/firewalld"
    echo "PYTHONPATH=$final/usr/lib/python3/dist-packages"
    echo "DEFAULT_CONFIG=$final/usr/lib/firewalld"
    echo "SYSTEM_CONFIG=$final/etc/firewalld"
    echo "BIN=$DEST/bin"
} > "$DEST/env"
echo "$version" > "$DEST/version"
echo "fetch_firewalld: firewalld $version extracted into $DEST/root (not installed)"
