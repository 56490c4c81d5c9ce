#!/usr/bin/env bash
# Install the Prometheus exporters on one DGX Spark node:
#   - NVIDIA dcgm-exporter (:9400), as a container with the pinned counters CSV mounted;
#   - prometheus-node-exporter (:9100), from the distribution's packages;
#   - firewall rules that let only the Prometheus server reach 9100 and 9400, for IPv4
#     and IPv6, that survive a reboot (ufw, or iptables/ip6tables saved by
#     netfilter-persistent).
#
# Usage (on the node, as root):
#   sudo PROMETHEUS_SERVER_IP=10.0.0.5 bash setup-exporters.sh
#   bash setup-exporters.sh --dry-run        # print the plan; changes nothing, no root
#
# Idempotent: run it again after an upgrade or a change to dcgm-counters.csv; it only
# changes what differs (a changed CSV or image recreates the exporter container).
#
# Options and environment:
#   --dry-run, -n               print what would be done, change nothing
#   --prometheus-server-ip IP   or PROMETHEUS_SERVER_IP: the only source allowed to scrape
#   --prometheus-server-ip6 IP  or PROMETHEUS_SERVER_IP6: its IPv6 address, if it scrapes
#                               over IPv6 (otherwise IPv6 reaches only loopback)
#   --local-scrape              the monitoring stack runs on THIS node: also allow its
#                               Docker network (its scrapes of this node come from there)
#   LOCAL_SCRAPE_SUBNET         that network's CIDR, instead of asking Docker for it
#   --skip-firewall             leave the firewall alone (e.g. managed elsewhere)
#   DCGM_EXPORTER_IMAGE         override the pinned image (tag or digest)
#   DCGM_COUNTERS_CSV           counters file to install (default: beside this script)
#
# Needs: NVIDIA driver (nvidia-smi), Docker with the NVIDIA Container Toolkit, apt.

set -euo pipefail

# Pinned: <DCGM version>-<exporter version>-<variant>; multi-arch (amd64 + arm64, the
# DGX Spark's CPUs). Bump deliberately, together with dcgm-counters.csv.
readonly DEFAULT_DCGM_EXPORTER_IMAGE="nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-distroless"
readonly DCGM_CONTAINER="dcgm-exporter"
readonly COUNTERS_DIR="/etc/dcgm-exporter"
readonly COUNTERS_DEST="${COUNTERS_DIR}/dcgm-counters.csv"
readonly DCGM_PORT=9400
readonly NODE_EXPORTER_PORT=9100
readonly NODE_EXPORTER_PACKAGE="prometheus-node-exporter"
# Collect every 15 s, the Prometheus scrape interval (the exporter's default is 30 s).
readonly DCGM_COLLECT_INTERVAL_MS=15000
# Windows of DCGM_EXP_XID_ERRORS_COUNT / DCGM_EXP_CLOCK_EVENTS_COUNT (GPUXIDError resolves
# this long after the last XID).
readonly DCGM_EVENT_WINDOW_MS=300000

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

DRY_RUN=0
SKIP_FIREWALL=0
PROMETHEUS_SERVER_IP="${PROMETHEUS_SERVER_IP:-}"
PROMETHEUS_SERVER_IP6="${PROMETHEUS_SERVER_IP6:-}"
LOCAL_SCRAPE=0
LOCAL_SCRAPE_SUBNET="${LOCAL_SCRAPE_SUBNET:-}"
# The compose network of the stack (docker-compose.yml, project dgx-spark-monitoring).
readonly STACK_NETWORK="${STACK_NETWORK:-dgx-spark-monitoring_default}"
# Our own iptables/ip6tables chain: flushed and refilled on every run (idempotent), one
# jump to it from INPUT.
readonly FW_CHAIN="DGX-EXPORTERS"
DCGM_EXPORTER_IMAGE="${DCGM_EXPORTER_IMAGE:-$DEFAULT_DCGM_EXPORTER_IMAGE}"
COUNTERS_SRC="${DCGM_COUNTERS_CSV:-$SCRIPT_DIR/dcgm-counters.csv}"

# What happened, printed at the end: "changed", "ok" (already as wanted), "skipped",
# "warning" or "planned" (dry run).
REPORT=()
WARNINGS=0

log() { printf '%s\n' "$*"; }
warn() {
    printf 'WARNING: %s\n' "$*" >&2
    WARNINGS=$((WARNINGS + 1))
}
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}
report() { REPORT+=("$(printf '%-8s %s' "$1" "$2")"); }

# Run a command that changes the system, or only show it in a dry run.
run() {
    if ((DRY_RUN)); then
        printf '  would run:'
        printf ' %q' "$@"
        printf '\n'
    else
        log "  running: $*"
        "$@"
    fi
}

usage() {
    sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while (($#)); do
        case "$1" in
            -n | --dry-run) DRY_RUN=1 ;;
            --skip-firewall) SKIP_FIREWALL=1 ;;
            --prometheus-server-ip)
                [[ $# -ge 2 ]] || die "--prometheus-server-ip needs a value"
                PROMETHEUS_SERVER_IP="$2"
                shift
                ;;
            --prometheus-server-ip=*) PROMETHEUS_SERVER_IP="${1#*=}" ;;
            --prometheus-server-ip6)
                [[ $# -ge 2 ]] || die "--prometheus-server-ip6 needs a value"
                PROMETHEUS_SERVER_IP6="$2"
                shift
                ;;
            --prometheus-server-ip6=*) PROMETHEUS_SERVER_IP6="${1#*=}" ;;
            --local-scrape) LOCAL_SCRAPE=1 ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
}

valid_ipv4_or_cidr() {
    local re='^([0-9]{1,3}\.){3}[0-9]{1,3}(/([0-9]|[12][0-9]|3[0-2]))?$'
    [[ $1 =~ $re ]] || return 1
    local octet
    IFS=./ read -r -a parts <<<"${1%/*}"
    for octet in "${parts[@]}"; do
        ((10#$octet <= 255)) || return 1
    done
}

preflight() {
    if ((DRY_RUN)); then
        log "DRY RUN: nothing will be changed on this machine."
    elif ((EUID != 0)); then
        die "run as root (sudo), or with --dry-run to see the plan"
    fi

    if [[ -z $PROMETHEUS_SERVER_IP ]]; then
        if ((DRY_RUN || SKIP_FIREWALL)); then
            PROMETHEUS_SERVER_IP="<PROMETHEUS_SERVER_IP>"
            ((SKIP_FIREWALL)) || warn "PROMETHEUS_SERVER_IP is not set; the plan shows a placeholder"
        else
            die "set PROMETHEUS_SERVER_IP (or --prometheus-server-ip): the only host allowed to scrape ${NODE_EXPORTER_PORT}/${DCGM_PORT}"
        fi
    elif ! valid_ipv4_or_cidr "$PROMETHEUS_SERVER_IP"; then
        die "PROMETHEUS_SERVER_IP='$PROMETHEUS_SERVER_IP' is not an IPv4 address or CIDR"
    fi
    if [[ -n $PROMETHEUS_SERVER_IP6 ]] && ! [[ $PROMETHEUS_SERVER_IP6 =~ ^[0-9A-Fa-f:]+(/[0-9]{1,3})?$ && $PROMETHEUS_SERVER_IP6 == *:* ]]; then
        die "PROMETHEUS_SERVER_IP6='$PROMETHEUS_SERVER_IP6' is not an IPv6 address or CIDR"
    fi
    if [[ -n $LOCAL_SCRAPE_SUBNET ]]; then
        LOCAL_SCRAPE=1
        valid_ipv4_or_cidr "$LOCAL_SCRAPE_SUBNET" \
            || die "LOCAL_SCRAPE_SUBNET='$LOCAL_SCRAPE_SUBNET' is not an IPv4 CIDR"
    fi

    [[ -r $COUNTERS_SRC ]] || die "counters file not found: $COUNTERS_SRC"
    grep -q '^DCGM_EXP_XID_ERRORS_COUNT,' "$COUNTERS_SRC" \
        || warn "$COUNTERS_SRC does not enable DCGM_EXP_XID_ERRORS_COUNT; GPUXIDError falls back to the sticky gauge"
}

check_driver() {
    log "== NVIDIA driver"
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        if ((DRY_RUN)); then
            warn "nvidia-smi not found: this is not a GPU node (fine for a dry run)"
            report "warning" "NVIDIA driver: nvidia-smi not found"
            return 0
        fi
        die "nvidia-smi not found: install the NVIDIA driver (DGX OS ships it) before the exporters"
    fi
    local gpus
    if ! gpus="$(nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader 2>&1)"; then
        ((DRY_RUN)) || die "nvidia-smi failed: $gpus"
        warn "nvidia-smi failed: $gpus"
        report "warning" "NVIDIA driver: nvidia-smi failed"
        return 0
    fi
    log "  $gpus"
    report "ok" "NVIDIA driver: $(printf '%s' "$gpus" | head -n1)"
    # GB10 reports memory as "Not Supported"; that is expected and why the GPU memory
    # alerts use node exporter's unified memory on DGX Spark.
}

install_counters() {
    log "== DCGM counters file ($COUNTERS_DEST)"
    if [[ -f $COUNTERS_DEST ]] && cmp -s "$COUNTERS_SRC" "$COUNTERS_DEST"; then
        log "  up to date"
        report "ok" "counters CSV $COUNTERS_DEST"
        COUNTERS_CHANGED=0
        return 0
    fi
    run install -D -m 0644 "$COUNTERS_SRC" "$COUNTERS_DEST"
    report "$( ((DRY_RUN)) && echo planned || echo changed)" "counters CSV $COUNTERS_DEST"
    COUNTERS_CHANGED=1
}

docker_ready() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

install_dcgm_exporter() {
    log "== DCGM exporter container ($DCGM_EXPORTER_IMAGE)"
    if ! command -v docker >/dev/null 2>&1; then
        ((DRY_RUN)) || die "docker not found: install Docker and the NVIDIA Container Toolkit"
        warn "docker not found"
    elif ! docker_ready; then
        ((DRY_RUN)) || die "the Docker engine is not reachable (is dockerd running?)"
        warn "the Docker engine is not reachable; showing the full plan"
    elif ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
        ((DRY_RUN)) || die "Docker has no 'nvidia' runtime: install the NVIDIA Container Toolkit and run 'nvidia-ctk runtime configure --runtime=docker'"
        warn "Docker has no 'nvidia' runtime"
    fi

    local current_image="" running=""
    if docker_ready; then
        current_image="$(docker inspect --format '{{.Config.Image}}' "$DCGM_CONTAINER" 2>/dev/null || true)"
        running="$(docker inspect --format '{{.State.Running}}' "$DCGM_CONTAINER" 2>/dev/null || true)"
    fi

    if [[ $current_image == "$DCGM_EXPORTER_IMAGE" && $running == "true" && $COUNTERS_CHANGED -eq 0 ]]; then
        log "  already running with the pinned image and counters"
        report "ok" "dcgm-exporter container (:$DCGM_PORT)"
        return 0
    fi
    if [[ -n $current_image ]]; then
        # A different image, a stopped container or new counters: recreate, so the running
        # exporter always matches what this script pins.
        run docker rm -f "$DCGM_CONTAINER"
    fi
    run docker pull "$DCGM_EXPORTER_IMAGE"
    # --network host, not -p: Docker's published ports bypass ufw's INPUT rules, which
    # would leave :9400 open to everyone despite the firewall step below.
    run docker run --detach --name "$DCGM_CONTAINER" \
        --restart unless-stopped \
        --gpus all \
        --network host \
        --cap-add SYS_ADMIN \
        --volume "$COUNTERS_DEST:$COUNTERS_DEST:ro" \
        "$DCGM_EXPORTER_IMAGE" \
        --collectors "$COUNTERS_DEST" \
        --address ":$DCGM_PORT" \
        --collect-interval "$DCGM_COLLECT_INTERVAL_MS" \
        --xid-count-window-size "$DCGM_EVENT_WINDOW_MS" \
        --clock-events-count-window-size "$DCGM_EVENT_WINDOW_MS"
    report "$( ((DRY_RUN)) && echo planned || echo changed)" "dcgm-exporter container (:$DCGM_PORT, $DCGM_EXPORTER_IMAGE)"
}

install_node_exporter() {
    log "== Node exporter ($NODE_EXPORTER_PACKAGE)"
    if dpkg-query -W -f='${Status}' "$NODE_EXPORTER_PACKAGE" 2>/dev/null | grep -q 'install ok installed'; then
        log "  package installed: $(dpkg-query -W -f='${Version}' "$NODE_EXPORTER_PACKAGE")"
    else
        if ! command -v apt-get >/dev/null 2>&1; then
            ((DRY_RUN)) || die "apt-get not found: install $NODE_EXPORTER_PACKAGE (or a pinned node_exporter release) by hand"
            warn "apt-get not found"
        fi
        run apt-get update
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$NODE_EXPORTER_PACKAGE"
    fi
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$NODE_EXPORTER_PACKAGE" 2>/dev/null \
        && systemctl is-enabled --quiet "$NODE_EXPORTER_PACKAGE" 2>/dev/null; then
        log "  service enabled and running"
        report "ok" "node exporter (:$NODE_EXPORTER_PORT)"
    else
        run systemctl enable --now "$NODE_EXPORTER_PACKAGE"
        report "$( ((DRY_RUN)) && echo planned || echo changed)" "node exporter (:$NODE_EXPORTER_PORT)"
    fi
}

# IPv4 sources allowed to scrape: the Prometheus server and, when the stack runs on this
# node, its Docker network (Prometheus's scrapes of this node's address come from there).
scrape_sources() {
    printf '%s\n' "$PROMETHEUS_SERVER_IP"
    if ((LOCAL_SCRAPE)); then
        printf '%s\n' "$LOCAL_SCRAPE_SUBNET"
    fi
}

find_local_scrape_subnet() {
    ((LOCAL_SCRAPE)) && [[ -z $LOCAL_SCRAPE_SUBNET ]] || return 0
    LOCAL_SCRAPE_SUBNET=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' \
        "$STACK_NETWORK" 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+/[0-9]+$' | head -n 1) || true
    if [[ -z $LOCAL_SCRAPE_SUBNET ]]; then
        if ((DRY_RUN)); then
            LOCAL_SCRAPE_SUBNET="<subnet of $STACK_NETWORK>"
            warn "network $STACK_NETWORK not found; start the stack first or set LOCAL_SCRAPE_SUBNET"
        else
            die "--local-scrape: Docker network $STACK_NETWORK not found; start the stack (docker compose up -d) first, or set LOCAL_SCRAPE_SUBNET"
        fi
    fi
}

firewall_ufw() {
    # ufw keeps its rules across reboots and applies each to IPv4 and IPv6 (IPV6=yes in
    # /etc/default/ufw, Debian's default); its default policy denies other sources. It
    # skips rules that already exist.
    local port source
    for port in "$NODE_EXPORTER_PORT" "$DCGM_PORT"; do
        while IFS= read -r source; do
            run ufw allow proto tcp from "$source" to any port "$port" comment "prometheus scrape"
        done < <(scrape_sources)
        if [[ -n $PROMETHEUS_SERVER_IP6 ]]; then
            run ufw allow proto tcp from "$PROMETHEUS_SERVER_IP6" to any port "$port" comment "prometheus scrape"
        fi
    done
    grep -qs '^IPV6=yes' /etc/default/ufw || warn "IPV6 is not 'yes' in /etc/default/ufw: ufw leaves IPv6 unfiltered"
    report "$( ((DRY_RUN)) && echo planned || echo changed)" "ufw: tcp/$NODE_EXPORTER_PORT,$DCGM_PORT only from $(scrape_sources | paste -sd ' ') ${PROMETHEUS_SERVER_IP6}"
}

# One family (iptables or ip6tables): refill our chain, jump to it once from INPUT.
firewall_family() {
    local tool=$1
    shift
    local ports="$NODE_EXPORTER_PORT,$DCGM_PORT" source
    if ((DRY_RUN)) || ! "$tool" -n -L "$FW_CHAIN" >/dev/null 2>&1; then
        run "$tool" -N "$FW_CHAIN"
    fi
    run "$tool" -F "$FW_CHAIN"
    run "$tool" -A "$FW_CHAIN" -i lo -j ACCEPT
    for source in "$@"; do
        run "$tool" -A "$FW_CHAIN" -s "$source" -j ACCEPT
    done
    run "$tool" -A "$FW_CHAIN" -j DROP
    if ((DRY_RUN)) || ! "$tool" -C INPUT -p tcp -m multiport --dports "$ports" -j "$FW_CHAIN" 2>/dev/null; then
        run "$tool" -I INPUT 1 -p tcp -m multiport --dports "$ports" -j "$FW_CHAIN"
    fi
}

firewall_iptables() {
    local sources
    mapfile -t sources < <(scrape_sources)
    firewall_family iptables "${sources[@]}"
    # Without this, IPv6 would reach the exporters from anywhere.
    if command -v ip6tables >/dev/null 2>&1; then
        if [[ -n $PROMETHEUS_SERVER_IP6 ]]; then
            firewall_family ip6tables "$PROMETHEUS_SERVER_IP6"
        else
            firewall_family ip6tables
        fi
    else
        warn "ip6tables not found: IPv6 to tcp/$NODE_EXPORTER_PORT,$DCGM_PORT is not filtered"
    fi
    # iptables rules live in memory only: save them, and have them loaded at boot.
    if ! command -v netfilter-persistent >/dev/null 2>&1; then
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables-persistent
    fi
    run netfilter-persistent save
    report "$( ((DRY_RUN)) && echo planned || echo changed)" "iptables+ip6tables chain $FW_CHAIN: tcp/$NODE_EXPORTER_PORT,$DCGM_PORT only from ${sources[*]} ${PROMETHEUS_SERVER_IP6:-(IPv6: loopback only)}; saved by netfilter-persistent"
}

configure_firewall() {
    log "== Firewall (${NODE_EXPORTER_PORT}, ${DCGM_PORT} only from ${PROMETHEUS_SERVER_IP})"
    if ((SKIP_FIREWALL)); then
        report "skipped" "firewall (--skip-firewall)"
        return 0
    fi
    find_local_scrape_subnet
    if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then
        firewall_ufw
    elif command -v iptables >/dev/null 2>&1; then
        firewall_iptables
    else
        warn "neither an active ufw nor iptables found: tcp/$NODE_EXPORTER_PORT,$DCGM_PORT are not restricted"
        report "warning" "firewall: tcp/$NODE_EXPORTER_PORT,$DCGM_PORT not restricted"
    fi
}

verify() {
    log "== Verify"
    if ((DRY_RUN)); then
        log "  would check: curl -sf http://127.0.0.1:$DCGM_PORT/metrics | grep DCGM_FI_DEV_GPU_TEMP"
        log "  would check: curl -sf http://127.0.0.1:$NODE_EXPORTER_PORT/metrics | grep node_memory_MemAvailable_bytes"
        return 0
    fi
    local attempt
    for attempt in 1 2 3 4 5 6; do
        if curl -sf "http://127.0.0.1:$DCGM_PORT/metrics" | grep -q '^DCGM_FI_DEV_GPU_TEMP'; then
            report "ok" "http://127.0.0.1:$DCGM_PORT/metrics serves DCGM_FI_DEV_GPU_TEMP"
            break
        fi
        ((attempt < 6)) || {
            warn "dcgm-exporter does not serve DCGM_FI_DEV_GPU_TEMP yet: docker logs $DCGM_CONTAINER"
            report "warning" "dcgm-exporter metrics not verified"
        }
        sleep 5
    done
    if curl -sf "http://127.0.0.1:$NODE_EXPORTER_PORT/metrics" | grep -q '^node_memory_MemAvailable_bytes'; then
        report "ok" "http://127.0.0.1:$NODE_EXPORTER_PORT/metrics serves node_memory_MemAvailable_bytes"
    else
        warn "node exporter does not answer on :$NODE_EXPORTER_PORT: journalctl -u $NODE_EXPORTER_PACKAGE"
        report "warning" "node exporter metrics not verified"
    fi
}

summary() {
    log ""
    log "== Summary ($(hostname)$( ((DRY_RUN)) && echo ', dry run'))"
    local line
    for line in "${REPORT[@]}"; do
        log "  $line"
    done
    log ""
    log "Next, on the monitoring host: add this node to prometheus/targets/{dcgm,node}-targets.yml"
    log "(same 'node' label in every file). Spark (:4040) and vLLM (:8000) are opened by"
    log "their own setup; see node-scripts/enable-vllm-metrics.md."
    if ((WARNINGS)); then
        log "$WARNINGS warning(s) above."
    fi
}

main() {
    COUNTERS_CHANGED=0
    parse_args "$@"
    preflight
    check_driver
    install_counters
    install_dcgm_exporter
    install_node_exporter
    configure_firewall
    verify
    summary
}

main "$@"
