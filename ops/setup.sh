#!/usr/bin/env bash
# ops/setup.sh — install everything the local services need; safe to run again (each step
# is skipped when already done). Needs root for apt, and Maven Central for the jars.
#
#   Debian packages : prometheus (+ promtool), kcat, nginx-light — bookworm: prometheus 2.42.0+ds-5+deb12u1,
#                     kcat 1.7.1-2 (the versions installed are printed at the end)
#   Kafka           : org.apache.kafka:kafka_2.13 + kafka-tools, version in ops/kafka/pom.xml,
#                     jars into .local/kafka/libs
#   Schema registry : io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all,
#                     unpacked into .local/registry/ (needs Java 21+, found or installed)
#
# Nothing here starts a service: ops/stack.sh up does.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# nginx-light: the TLS + basic-auth front of the registry in the secure stack (SECURE=1).
DEB_PACKAGES=(prometheus kcat nginx-light)
SETUP_LOG="$LOG_DIR/setup.log"

# quietly CMD...: run CMD with its output appended to SETUP_LOG, shown only if it fails.
quietly() {
    local rc=0 mark
    mark=$(wc -l <"$SETUP_LOG")
    printf '\n===== %s: %s\n' "$(date -Is)" "$*" >>"$SETUP_LOG"
    "$@" >>"$SETUP_LOG" 2>&1 || rc=$?
    if ((rc != 0)); then
        printf -- '--- output of: %s (exit %d; full log: %s) ---\n' "$*" "$rc" "${SETUP_LOG#"$REPO_ROOT"/}" >&2
        tail -n +"$((mark + 1))" "$SETUP_LOG" | tail -n 40 >&2
    fi
    return "$rc"
}

as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "'$*' needs root: run ops/setup.sh as root or install sudo"
    fi
}

deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }
deb_candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }

install_debian_packages() {
    local missing=() pkg
    for pkg in "${DEB_PACKAGES[@]}"; do
        deb_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        info "debian: ${DEB_PACKAGES[*]} already installed"
    else
        # apt-get update only when the package lists do not know a package yet.
        for pkg in "${missing[@]}"; do
            if [[ -z $(deb_candidate "$pkg") || $(deb_candidate "$pkg") == "(none)" ]]; then
                info "debian: refreshing package lists (apt-get update)"
                quietly as_root apt-get update || die "apt-get update failed: check the network and /etc/apt/sources.list*, then re-run ops/setup.sh"
                break
            fi
        done
        info "debian: installing ${missing[*]}"
        install_without_starting_services "${missing[@]}"
    fi
    stop_debian_prometheus_service
    for pkg in "${DEB_PACKAGES[@]}"; do
        info "debian: $pkg $(deb_version "$pkg")"
    done
}

# Debian's prometheus package starts its own daemon on :9090 from its postinst. We run our
# own instance (ops/stack.sh), so keep invoke-rc.d from starting it with a temporary
# policy-rc.d ("101: action forbidden"), unless the machine already has a policy of its own.
install_without_starting_services() {
    local policy=/usr/sbin/policy-rc.d created=false
    if [[ ! -e $policy ]]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
        created=true
    fi
    local rc=0
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" || rc=$?
    [[ $created == true ]] && as_root rm -f "$policy"
    ((rc == 0)) || die "apt-get install $* failed (exit $rc): see the apt output above; 'apt-get update' then re-run ops/setup.sh"
}

# In case the package's service was started anyway (an earlier install, a systemd machine):
# stop it and keep it from starting at boot, so :9090 is free for ours.
stop_debian_prometheus_service() {
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        if systemctl is-enabled --quiet prometheus 2>/dev/null || systemctl is-active --quiet prometheus 2>/dev/null; then
            info "debian: disabling the prometheus system service (we run our own instance)"
            as_root systemctl disable --now prometheus >/dev/null 2>&1 || warn "could not stop the prometheus system service: run 'systemctl disable --now prometheus'"
        fi
    elif [[ -x /etc/init.d/prometheus ]] && /etc/init.d/prometheus status >/dev/null 2>&1; then
        info "debian: stopping the prometheus system service (we run our own instance)"
        as_root /etc/init.d/prometheus stop >/dev/null || warn "could not stop the prometheus system service: run '/etc/init.d/prometheus stop'"
    fi
}

require_mvn() {
    command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is missing: apt-get install -y maven, then re-run ops/setup.sh"
}

fetch_kafka() {
    local marker="$KAFKA_LIBS/.version"
    if [[ -f $marker && $(<"$marker") == "$KAFKA_VERSION" ]]; then
        info "kafka: $KAFKA_VERSION already in ${KAFKA_LIBS#"$REPO_ROOT"/}"
        return 0
    fi
    require_mvn
    info "kafka: fetching $KAFKA_VERSION (kafka_2.13, kafka-tools, log4j2) from Maven Central"
    local tmp="$KAFKA_HOME/libs.tmp"
    rm -rf "$tmp"
    mkdir -p "$KAFKA_HOME"
    quietly mvn -B -f "$KAFKA_POM" "$MVN_DEPENDENCY_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp" || {
        rm -rf "$tmp"
        die "Maven could not fetch Kafka $KAFKA_VERSION (see its output above). Check that Maven Central is reachable (and ~/.m2/settings.xml), then re-run ops/setup.sh"
    }
    [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after download: check $KAFKA_POM"
    printf '%s\n' "$KAFKA_VERSION" >"$tmp/.version"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    info "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in ${KAFKA_LIBS#"$REPO_ROOT"/}"
}

fetch_registry() {
    local marker="$REGISTRY_APP/.version"
    if [[ -f $marker && $(<"$marker") == "$APICURIO_VERSION" ]]; then
        info "registry: Apicurio $APICURIO_VERSION already in ${REGISTRY_APP#"$REPO_ROOT"/}"
        return 0
    fi
    require_mvn
    info "registry: fetching Apicurio Registry $APICURIO_VERSION from Maven Central (~160 MB)"
    local download="$REGISTRY_HOME/download" tmp="$REGISTRY_APP.tmp"
    local archive="$download/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
    rm -rf "$download" "$tmp"
    mkdir -p "$download" "$tmp"
    quietly mvn -B "$MVN_DEPENDENCY_PLUGIN:copy" \
        -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
        -DoutputDirectory="$download" || {
        rm -rf "$download" "$tmp"
        die "Maven could not fetch io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all (see above). Check that Maven Central is reachable, then re-run ops/setup.sh"
    }
    tar -xzf "$archive" -C "$tmp" || die "could not unpack $archive: delete it and re-run ops/setup.sh"
    [[ -f $tmp/quarkus-run.jar ]] || die "quarkus-run.jar missing from $archive: unexpected archive layout"
    printf '%s\n' "$APICURIO_VERSION" >"$tmp/.version"
    # Replace this version's tree, and drop those of earlier pins.
    rm -rf "$REGISTRY_APP" "$download" "$REGISTRY_HOME"/apicurio-registry-app-*[0-9]
    mv "$tmp" "$REGISTRY_APP"
    info "registry: unpacked into ${REGISTRY_APP#"$REPO_ROOT"/}"
}

# The registry needs Java 21+, Kafka 17+. The project's machines carry a second JDK (Temurin)
# under /usr/lib/jvm; elsewhere install Debian's openjdk-21 where the release has it.
ensure_java() {
    local java
    java=$(find_java "$KAFKA_MIN_JAVA") ||
        die "no Java $KAFKA_MIN_JAVA+ found for Kafka: apt-get install -y openjdk-17-jre-headless, then re-run ops/setup.sh"
    info "java: kafka uses $java ($(java_major "$java"))"
    if ! java=$(find_java "$REGISTRY_MIN_JAVA" "${REGISTRY_JAVA_HOME:-}"); then
        local candidate
        candidate=$(deb_candidate openjdk-21-jre-headless)
        [[ -n $candidate && $candidate != "(none)" ]] ||
            die "Apicurio Registry $APICURIO_VERSION needs Java $REGISTRY_MIN_JAVA+, and none is installed nor available from apt: install a JDK 21+ and set REGISTRY_JAVA_HOME to it"
        info "java: installing openjdk-21-jre-headless for the registry"
        install_without_starting_services openjdk-21-jre-headless
        java=$(find_java "$REGISTRY_MIN_JAVA") || die "openjdk-21-jre-headless installed but no java 21 found under /usr/lib/jvm"
    fi
    info "java: registry uses $java ($(java_major "$java"))"
}

main() {
    local start=$SECONDS
    mkdir -p "$LOCAL_DIR" "$LOG_DIR" "$RUN_DIR"
    touch "$SETUP_LOG"
    install_debian_packages
    ensure_java
    fetch_kafka
    fetch_registry
    info "setup: done in $((SECONDS - start))s — start the services with: ops/stack.sh up"
}

main "$@"
