#!/usr/bin/env bash
# The test command: provisions what the tests need, then runs the whole suite.
#   - a Docker engine (installed from Debian's packages and started, when missing and we are root)
#   - the local base image the integration tests build from (debootstrap + docker import, when missing)
#   - an unprivileged host user to run paddock as, when the tests run as root
# With CI=true, a missing engine fails the run instead of skipping the engine tests.
set -euo pipefail

cd "$(dirname "$0")/.."
BASE_IMAGE="${PADDOCK_TEST_BASE_IMAGE:-paddock-test/bookworm:latest}"
TEST_USER="${PADDOCK_TEST_USER:-paddock-tester}"
export PADDOCK_TEST_BASE_IMAGE="$BASE_IMAGE" PADDOCK_TEST_USER="$TEST_USER"

log() { printf 'test.sh: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
    if [ -z "${APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_engine() {
    if docker info >/dev/null 2>&1; then return 0; fi
    if ! is_root || ! command -v apt-get >/dev/null; then
        log "no Docker engine reachable and no rights to install one; engine tests will skip (or fail with CI=true)"
        return 0
    fi
    command -v dockerd >/dev/null || { log "installing docker.io"; apt_install docker.io; }
    if ! docker info >/dev/null 2>&1; then
        log "starting dockerd"
        nohup dockerd >/tmp/paddock-dockerd.log 2>&1 &
        for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    fi
    docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/paddock-dockerd.log"; return 0; }
}

# The Debian mirror this machine's apt already uses, so nothing here names a host.
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list | head -n 1)
    fi
    printf '%s' "$uri"
}

ensure_base_image() {
    docker info >/dev/null 2>&1 || return 0
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
    is_root || { log "base image $BASE_IMAGE missing and not root: cannot debootstrap"; return 0; }
    command -v debootstrap >/dev/null || apt_install debootstrap
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /tmp/paddock-rootfs.XXXXXX)
    log "building $BASE_IMAGE with debootstrap (about 30 s)"
    debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} >/tmp/paddock-debootstrap.log 2>&1 \
        || { log "debootstrap failed; see /tmp/paddock-debootstrap.log"; rm -rf "$rootfs"; return 1; }
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

ensure_test_user() {
    is_root || return 0
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        log "creating the unprivileged test user $TEST_USER"
        useradd --create-home --shell /bin/bash "$TEST_USER"
    fi
    # Like a developer in the docker group: paddock itself never needs root.
    if getent group docker >/dev/null; then usermod -aG docker "$TEST_USER"; fi
}

ensure_tools() {
    local missing=()
    for tool in git setpriv; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if [ ${#missing[@]} -gt 0 ] && is_root; then apt_install git util-linux; fi
}

ensure_tools
ensure_engine
ensure_base_image
ensure_test_user

log "building"
swift build --build-tests
log "running the suite"
swift test --skip-build "$@"
