#!/usr/bin/env bash
# The test command: provisions what the tests need, then runs the whole suite.
#   - a Docker engine (installed from Debian's packages and started, when missing and we are root)
#   - the local base image the integration tests build from (debootstrap + docker import, when missing)
#   - an unprivileged host user to run paddock as, when the tests run as root
#   - rootless Podman for that user (subordinate ids, the base image in the user's own storage)
#   - bubblewrap, and on the host what the bwrap scenarios run (sh, coreutils, grep, perl, socat, git)
#   - runc, which paddock runs rootless Podman with where crun refuses the host's cgroup layout (hybrid v1/v2)
# Then it runs the README's install line, read from the README, in a fresh clone, and the installed binary.
# With CI=true, a missing engine fails the run instead of skipping the engine tests.
set -euo pipefail

cd "$(dirname "$0")/.."
BASE_IMAGE="${PADDOCK_TEST_BASE_IMAGE:-paddock-test/bookworm:latest}"
TEST_USER="${PADDOCK_TEST_USER:-paddock-tester}"
export PADDOCK_TEST_BASE_IMAGE="$BASE_IMAGE" PADDOCK_TEST_USER="$TEST_USER"

# Seconds since the start on every line, so a slow CI run says where its time went.
log() { printf 'test.sh [%4ds]: %s\n' "$SECONDS" "$*" >&2; }
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
    local rootfs
    rootfs=$(debootstrap_rootfs) || return 1
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

# A Debian minbase tree from this machine's own mirror; prints its path.
debootstrap_rootfs() {
    command -v debootstrap >/dev/null || apt_install debootstrap
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /tmp/paddock-rootfs.XXXXXX)
    log "building $BASE_IMAGE with debootstrap (about 30 s)"
    debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} >/tmp/paddock-debootstrap.log 2>&1 \
        || { log "debootstrap failed; see /tmp/paddock-debootstrap.log"; rm -rf "$rootfs"; return 1; }
    printf '%s' "$rootfs"
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
    local packages=()
    command -v git >/dev/null || packages+=(git)
    command -v setpriv >/dev/null || packages+=(util-linux)
    # bwrap sessions run on the host's own userland, so the scenarios' tools must be on the host.
    command -v socat >/dev/null || packages+=(socat)
    command -v perl >/dev/null || packages+=(perl-base)
    command -v bwrap >/dev/null || packages+=(bubblewrap)
    # Rootless Podman as Debian 12 ships it: newuidmap/newgidmap, slirp4netns for builds, catatonit for --init.
    command -v podman >/dev/null || packages+=(podman)
    command -v newuidmap >/dev/null || packages+=(uidmap)
    command -v slirp4netns >/dev/null || packages+=(slirp4netns)
    command -v fuse-overlayfs >/dev/null || packages+=(fuse-overlayfs)
    [ -x /usr/libexec/podman/catatonit ] || packages+=(catatonit)
    # crun refuses hosts with cgroup v1 controllers beside a cgroup2 tree that holds one; paddock uses runc there.
    command -v runc >/dev/null || [ -x /usr/sbin/runc ] || packages+=(runc)
    # The real-agent tests: unzip for the wheels, openssl for the scripted origin's test CA, tmux for the terminal.
    command -v unzip >/dev/null || packages+=(unzip)
    command -v openssl >/dev/null || packages+=(openssl)
    command -v tmux >/dev/null || packages+=(tmux)
    [ ${#packages[@]} -eq 0 ] && return 0
    if is_root && command -v apt-get >/dev/null; then
        log "installing ${packages[*]}"
        apt_install "${packages[@]}"
    else
        log "missing ${packages[*]} and no rights to install; those engines' tests will skip (or fail with CI=true)"
    fi
}

# Runs a command as the test user (or as ourselves when not root), from /, with a clean environment.
as_test_user() {
    if is_root; then
        (cd / && setpriv --reuid="$(id -u "$TEST_USER")" --regid="$(id -g "$TEST_USER")" --init-groups -- \
            env -i HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" PATH="$PATH" USER="$TEST_USER" "$@")
    else
        (cd / && "$@")
    fi
}

ensure_rootless_podman() {
    command -v podman >/dev/null || return 0
    if is_root; then
        # Subordinate ids for the user namespace rootless Podman builds.
        grep -q "^$TEST_USER:" /etc/subuid || usermod --add-subuids 200000-265535 "$TEST_USER"
        grep -q "^$TEST_USER:" /etc/subgid || usermod --add-subgids 200000-265535 "$TEST_USER"
        # slirp4netns (networking for rootless image builds) opens /dev/net/tun, which hosts normally leave
        # usable by everyone; some container hosts do not.
        if [ -c /dev/net/tun ]; then chmod 0666 /dev/net/tun || true; fi
    fi
    local home conf
    home=$(as_test_user sh -c 'echo "$HOME"')
    conf="$home/.config/containers/storage.conf"
    if ! as_test_user test -f "$conf"; then
        # Native overlay (kernel >= 5.13) when it works, else vfs: Podman would silently pick vfs otherwise.
        as_test_user sh -c "mkdir -p '$home/.config/containers' && printf '[storage]\\ndriver = \"overlay\"\\n' > '$conf'"
        if ! as_test_user podman info >/dev/null 2>&1; then
            as_test_user sh -c "printf '[storage]\\ndriver = \"vfs\"\\n' > '$conf'"
        fi
    fi
    as_test_user podman image exists "$BASE_IMAGE" 2>/dev/null && return 0
    log "loading $BASE_IMAGE into $TEST_USER's rootless Podman storage"
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        docker save "$BASE_IMAGE" | as_test_user podman load >/dev/null 2>&1 \
            || log "podman load failed; the Podman tests will skip (or fail with CI=true)"
    elif is_root; then
        local rootfs
        rootfs=$(debootstrap_rootfs) || return 0
        tar -C "$rootfs" -c . | as_test_user podman import - "$BASE_IMAGE" >/dev/null
        rm -rf "$rootfs"
    fi
}

ensure_bwrap() {
    command -v bwrap >/dev/null || return 0
    as_test_user bwrap --unshare-all --ro-bind / / true 2>/dev/null \
        || log "bwrap cannot create user namespaces here (see kernel.unprivileged_userns_clone); the bwrap tests will skip (or fail with CI=true)"
}

# The README's install line, read from the README (not copied here), run in a fresh clone of the committed tree as
# a new user would run it, then the binary it installed. Root only: the line installs into /usr/local/bin.
check_readme_install() {
    local line clone
    line=$(awk '/^## Install and start/ { section = 1 } section && /^```sh/ { block = 1; next } block { print; exit }' README.md)
    case "$line" in
        "swift build"*) ;;
        *) log "README.md's install section does not start with a swift build line: '$line'"; return 1 ;;
    esac
    if ! is_root && [ ! -w /usr/local/bin ]; then
        log "cannot write /usr/local/bin as $(id -un): the README's install line is not checked"
        [ "${CI:-}" = true ] && return 1
        return 0
    fi
    [ -n "$(git status --porcelain 2>/dev/null)" ] && log "uncommitted changes are not in the fresh clone the install line runs in"
    clone=$(mktemp -d /tmp/paddock-install.XXXXXX)
    git clone -q . "$clone"
    log "running the README's install line in a fresh clone: $line"
    (cd "$clone" && bash -euo pipefail -c "$line") || { log "the README's install line failed"; return 1; }
    rm -rf "$clone"
    /usr/local/bin/paddock version
    # As the user paddock runs as, from a folder of theirs, on each engine this host has.
    local engines=(docker) engine
    command -v podman >/dev/null && engines+=(podman)
    for engine in "${engines[@]}"; do
        log "paddock doctor --engine $engine"
        as_test_user sh -c 'cd "$HOME" && /usr/local/bin/paddock doctor --engine "$1"' doctor "$engine" \
            || { log "paddock doctor --engine $engine failed"; return 1; }
    done
}

# ---- The real agent CLIs (issue 11) -------------------------------------------------------------------------------
# Claude Code and Codex come from PyPI wheels at pinned versions, cached between runs, and are handed to the tests
# as PADDOCK_TEST_CLAUDE_BINARY and PADDOCK_TEST_CODEX_BINARY. Without PyPI the agent tests skip, or fail with CI=true.
AGENT_CACHE="${PADDOCK_TEST_CACHE:-$HOME/.cache/paddock-test}"
CLAUDE_WHEEL="claude-agent-sdk==0.2.189"      # bundles Claude Code 2.1.332
CODEX_WHEEL="openai-codex-cli-bin==0.163.0"   # codex-cli 0.163.0

# Downloads one wheel (no dependencies) into the cache and unpacks it; prints the unpacked folder.
fetch_wheel() {
    local requirement="$1" platform="$2" folder
    folder="$AGENT_CACHE/${requirement/==/-}"
    if [ ! -f "$folder/.complete" ]; then
        rm -rf "$folder" && mkdir -p "$folder/wheel"
        pip download --quiet --no-deps --only-binary=:all: --platform "$platform" --python-version 3.12 \
            --dest "$folder/wheel" "$requirement" >&2 || { rm -rf "$folder"; return 1; }
        unzip -q -o "$folder"/wheel/*.whl -d "$folder/unpacked" && touch "$folder/.complete"
    fi
    printf '%s' "$folder/unpacked"
}

ensure_agent_clis() {
    local claude codex
    if ! claude=$(fetch_wheel "$CLAUDE_WHEEL" manylinux_2_17_x86_64) \
        || ! codex=$(fetch_wheel "$CODEX_WHEEL" manylinux_2_17_x86_64); then
        if [ "${CI:-}" = true ]; then
            log "CI=true and PyPI cannot be reached (pip download of $CLAUDE_WHEEL / $CODEX_WHEEL failed): the real-agent tests cannot run"
            exit 1
        fi
        log "PyPI not reachable: the real-agent tests will skip"
        return 0
    fi
    chmod 0755 "$claude/claude_agent_sdk/_bundled/claude" "$codex/codex_cli_bin/bin/codex"
    # The test user builds the images from these paths, so the cache must be readable by everyone.
    chmod -R a+rX "$AGENT_CACHE"
    export PADDOCK_TEST_CLAUDE_BINARY="$claude/claude_agent_sdk/_bundled/claude"
    export PADDOCK_TEST_CODEX_BINARY="$codex/codex_cli_bin/bin/codex"
    log "agent CLIs: $("$PADDOCK_TEST_CLAUDE_BINARY" --version 2>/dev/null | head -n 1), $("$PADDOCK_TEST_CODEX_BINARY" --version 2>/dev/null | head -n 1)"
}
# -------------------------------------------------------------------------------------------------------------------

# libFuzzer over what parses bytes the agent controls (scripts/fuzz.sh, Tests/Fuzz), after the suite, for a bounded
# time: PADDOCK_FUZZ_SECONDS per target (default 5; 0 skips). Its instrumented build in .build-fuzz is most of the cost
# (about 100 s from scratch on two cores, 10 s when .build-fuzz is kept).
run_fuzzers() {
    local seconds="${PADDOCK_FUZZ_SECONDS:-5}"
    if [ "$seconds" -eq 0 ]; then
        log "fuzzing skipped (PADDOCK_FUZZ_SECONDS=0)"
        return 0
    fi
    log "fuzzing each target for ${seconds}s"
    scripts/fuzz.sh "$seconds"
}

ensure_tools
ensure_engine
ensure_base_image
ensure_test_user
ensure_rootless_podman
ensure_bwrap
check_readme_install
ensure_agent_clis

log "linting (swift format, .swift-format)"
scripts/lint.sh
log "building"
swift build --build-tests
log "running the suite"
swift test --skip-build "$@"
run_fuzzers
log "done"
