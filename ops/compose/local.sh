#!/usr/bin/env bash
# ops/compose/local.sh — Podman and the images of the local compose variant (compose.local.yaml)
# on a machine without a container registry. Every step is skipped when already done.
#
#   ops/compose/local.sh setup    podman, runc, netavark, aardvark-dns, iptables, debootstrap
#                                 (Debian); podman-compose (PyPI, into .venv); containers.conf and
#                                 storage.conf under .local/compose
#   ops/compose/local.sh base     localhost/debian-base:bookworm: debootstrap + podman import
#   ops/compose/local.sh images   stage the kafka/registry contexts, build every local image
#   ops/compose/local.sh env      print the exports that point podman at this configuration
#   ops/compose/local.sh clean    delete the images, podman storage and the staged contexts
#
# Nothing is written to /etc: podman reads .local/compose/containers.conf (CONTAINERS_CONF) and
# .local/compose/storage.conf (CONTAINERS_STORAGE_CONF), so images, containers and volumes live
# under .local/compose/storage, apart from any other podman user of the machine. The settings:
# runc (crun cannot raise RLIMIT_NOFILE here), cgroupfs (no systemd), and a nofile ulimit that
# Kafka and RocksDB need. Kafka and Apicurio come from ops/setup.sh (Maven Central).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

PODMAN_COMPOSE_VERSION=1.6.0
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=localhost/debian-base:$DEBIAN_SUITE
COMPOSE_HOME="$LOCAL_DIR/compose"
CONTEXT_DIR="$COMPOSE_HOME/context"
BASE_TAR="$COMPOSE_HOME/debian-base-$DEBIAN_SUITE.tar"
VENV_BIN="$REPO_ROOT/.venv/bin"
LOCAL_SERVICES=(kafka registry prometheus bootstrap) # bootstrap builds the one worker image
# Modules the registry (Quarkus, Kafka clients, Vert.x) uses from the JDK.
JRE_MODULES=java.se,jdk.unsupported,jdk.crypto.ec,jdk.crypto.cryptoki,jdk.naming.dns,jdk.zipfs,jdk.management,jdk.management.agent,jdk.jfr,jdk.httpserver,jdk.net

export CONTAINERS_CONF="$COMPOSE_HOME/containers.conf"
export CONTAINERS_STORAGE_CONF="$COMPOSE_HOME/storage.conf"

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "$@" >>"$COMPOSE_HOME/apt.log" 2>&1 || {
        tail -n 30 "$COMPOSE_HOME/apt.log" >&2
        die "apt-get install $* failed (log: ${COMPOSE_HOME#"$REPO_ROOT"/}/apt.log)"
    }
}

write_configs() {
    mkdir -p "$COMPOSE_HOME/run" "$COMPOSE_HOME/cni" "$COMPOSE_HOME/storage"
    cat >"$CONTAINERS_CONF" <<EOF
# Written by ops/compose/local.sh; passed to podman with CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$COMPOSE_HOME/run/events.log"

[network]
# netavark with aardvark-dns: containers find each other by service name (CNI needs a plugin)
network_backend = "netavark"
network_config_dir = "$COMPOSE_HOME/cni"
EOF
    cat >"$CONTAINERS_STORAGE_CONF" <<EOF
# Written by ops/compose/local.sh; passed to podman with CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
graphroot = "$COMPOSE_HOME/storage"
runroot = "$COMPOSE_HOME/run/storage"
EOF
}

cmd_setup() {
    mkdir -p "$COMPOSE_HOME"
    local pkg missing=()
    # iptables: netavark 1.4 sets up the network's firewall rules with it; without it a
    # container start fails with "netavark: No such file or directory (os error 2)".
    for pkg in podman runc netavark aardvark-dns iptables debootstrap; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]} > 0)); then
        ((EUID == 0)) || die "installing ${missing[*]} needs root (apt-get)"
        info "compose: installing ${missing[*]} (Debian)"
        if [[ $(apt-cache policy podman | awk '/Candidate:/ {print $2}') == "" ]]; then
            apt-get -o DPkg::Lock::Timeout=600 update -q >>"$COMPOSE_HOME/apt.log" 2>&1 || die "apt-get update failed"
        fi
        apt_install "${missing[@]}"
    fi
    [[ -x $VENV_BIN/pip ]] || die "no .venv: run 'make venv' first"
    if [[ $("$VENV_BIN/podman-compose" --version 2>/dev/null | sed -n 's/^podman-compose version //p') != "$PODMAN_COMPOSE_VERSION" ]]; then
        info "compose: installing podman-compose $PODMAN_COMPOSE_VERSION (PyPI) into .venv"
        "$VENV_BIN/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
    fi
    write_configs
    info "compose: $(podman --version), runc $(runc --version | sed -n 's/^runc version //p'), podman-compose $PODMAN_COMPOSE_VERSION"
}

# The base image is the machine's Debian release as debootstrap makes it from the mirror apt
# already uses, plus the machine's CA certificates and pip's certificate setting, so that builds
# reach PyPI and Debian through whatever TLS the machine's network needs.
cmd_base() {
    if podman image exists "$BASE_IMAGE"; then
        info "compose: $BASE_IMAGE already built"
        return 0
    fi
    if [[ ! -s $BASE_TAR ]]; then
        local rootfs="$COMPOSE_HOME/rootfs.tmp" start=$SECONDS
        rm -rf "$rootfs"
        info "compose: debootstrap --variant=minbase $DEBIAN_SUITE (log: ${COMPOSE_HOME#"$REPO_ROOT"/}/debootstrap.log)"
        debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
            >"$COMPOSE_HOME/debootstrap.log" 2>&1 || {
            tail -n 20 "$COMPOSE_HOME/debootstrap.log" >&2
            die "debootstrap failed: check that $DEBIAN_MIRROR is reachable"
        }
        mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        fi
        [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
        [[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$rootfs/etc/pip.conf"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$BASE_TAR.tmp" .
        mv "$BASE_TAR.tmp" "$BASE_TAR"
        rm -rf "$rootfs"
        info "compose: root filesystem in $((SECONDS - start))s"
    fi
    podman import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
    info "compose: imported $BASE_IMAGE"
}

# stage_context NAME SRC DEST: hard-link (or copy) SRC into the build context of NAME.
stage_tree() {
    local src=$1 dest=$2
    [[ -d $dest ]] && return 0
    cp -al "$src" "$dest.tmp" 2>/dev/null || cp -a "$src" "$dest.tmp"
    mv "$dest.tmp" "$dest"
}

stage_contexts() {
    [[ -f $KAFKA_LIBS/.version && $(<"$KAFKA_LIBS/.version") == "$KAFKA_VERSION" ]] ||
        die "Kafka $KAFKA_VERSION is not downloaded: run ops/setup.sh (make setup)"
    [[ -f $REGISTRY_APP/.version ]] || die "Apicurio $APICURIO_VERSION is not downloaded: run ops/setup.sh"
    local kafka="$CONTEXT_DIR/kafka" registry="$CONTEXT_DIR/registry"
    mkdir -p "$kafka" "$registry"
    # A new pin replaces the staged copy.
    [[ -f $kafka/libs/.version && $(<"$kafka/libs/.version") == "$KAFKA_VERSION" ]] || rm -rf "$kafka/libs"
    stage_tree "$KAFKA_LIBS" "$kafka/libs"
    cp "$OPS_DIR/compose/local/kafka-run.sh" "$OPS_DIR/compose/local/kafka-tool.sh" \
        "$OPS_DIR/kafka/log4j2.properties" "$OPS_DIR/kafka/tools-log4j2.properties" "$kafka/"
    [[ -f $registry/app/.version && $(<"$registry/app/.version") == "$APICURIO_VERSION" ]] || rm -rf "$registry/app"
    stage_tree "$REGISTRY_APP" "$registry/app"
    if [[ ! -x $registry/jre/bin/java ]]; then
        local java jlink
        java=$(find_java "$REGISTRY_MIN_JAVA" "${REGISTRY_JAVA_HOME:-}") ||
            die "no JDK $REGISTRY_MIN_JAVA+ to make the registry's runtime from: run ops/setup.sh"
        jlink="$(dirname "$java")/jlink"
        [[ -x $jlink ]] || die "$java has no jlink beside it (a JRE, not a JDK): set REGISTRY_JAVA_HOME to a JDK 21+"
        info "compose: jlink a Java $(java_major "$java") runtime for the registry"
        rm -rf "$registry/jre"
        "$jlink" --add-modules "$JRE_MODULES" --strip-debug --no-header-files --no-man-pages \
            --output "$registry/jre"
    fi
}

compose_cmd() {
    "$VENV_BIN/podman-compose" --podman-path "$(command -v podman)" \
        -f "$REPO_ROOT/compose.yaml" -f "$REPO_ROOT/compose.local.yaml" "$@"
}

cmd_images() {
    podman image exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run '$0 base' first"
    stage_contexts
    local service start
    # One at a time: two cores, and podman-compose would build the worker image once per
    # service that names it.
    for service in "${LOCAL_SERVICES[@]}"; do
        start=$SECONDS
        # Host network for builds: the machine's resolver is not reachable from a bridge network
        # (podman-compose 1.6 ignores build.network, hence the podman option).
        (cd "$REPO_ROOT" && compose_cmd --podman-build-args=--network=host build "$service") >"$COMPOSE_HOME/build-$service.log" 2>&1 || {
            tail -n 40 "$COMPOSE_HOME/build-$service.log" >&2
            die "building the $service image failed (log: ${COMPOSE_HOME#"$REPO_ROOT"/}/build-$service.log)"
        }
        info "compose: built $service in $((SECONDS - start))s"
    done
    podman images --filter reference='localhost/shipstream-local/*' --format '  {{.Repository}}:{{.Tag}} {{.Size}}'
}

cmd_env() {
    printf 'export CONTAINERS_CONF=%q CONTAINERS_STORAGE_CONF=%q\n' "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"
}

cmd_clean() {
    if [[ -f $CONTAINERS_STORAGE_CONF ]] && command -v podman >/dev/null; then
        podman system reset --force >/dev/null 2>&1 || warn "podman system reset failed"
    fi
    rm -rf "$CONTEXT_DIR" "$COMPOSE_HOME/storage" "$COMPOSE_HOME/run"
    info "compose: images, containers, volumes and staged contexts deleted (the base tarball stays)"
}

main() {
    (($# >= 1)) || {
        sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
        exit 2
    }
    local cmd
    for cmd in "$@"; do
        case $cmd in
            setup) cmd_setup ;;
            base) cmd_base ;;
            images) cmd_images ;;
            env) cmd_env ;;
            clean) cmd_clean ;;
            *) die "unknown command '$cmd' (setup, base, images, env, clean)" ;;
        esac
    done
}

main "$@"
