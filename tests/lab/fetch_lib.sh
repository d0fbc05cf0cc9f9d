# Shared by tests/lab/fetch_*.sh (sourced, not run): a package's version on the mirror, and
# packages downloaded and extracted into a work directory, never installed (no dpkg database
# touched).

# candidate PACKAGE: the mirror's candidate version of PACKAGE, after one `apt-get update`
# when the package lists have none; empty when they still have none.
candidate() {
    local version
    version=$(apt-cache policy "$1" | awk '/Candidate:/ {print $2}')
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        timeout 300 apt-get update -qq >&2
        version=$(apt-cache policy "$1" | awk '/Candidate:/ {print $2}')
    fi
    if [ "$version" != "(none)" ]; then
        printf '%s' "$version"
    fi
}

# extract_debs WORK PACKAGE...: `apt-get download` the packages into WORK (after one
# `apt-get update` when a download fails: stale lists name files the mirror no longer has)
# and `dpkg -x` each into WORK/root.
extract_debs() {
    local work=$1
    shift
    if ! (cd "$work" && timeout 300 apt-get download -qq "$@"); then
        timeout 300 apt-get update -qq
        (cd "$work" && timeout 300 apt-get download -qq "$@")
    fi
    mkdir "$work/root"
    local deb
    for deb in "$work"/*.deb; do
        dpkg -x "$deb" "$work/root"
    done
}
