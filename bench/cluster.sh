#!/usr/bin/env bash
# The load benchmark on one node of a cluster: starts (N-1) more appliances as idle cluster members with the same
# model, then runs bench/load.sh with its node joined to them. Compare with bench/load.sh alone in the same sitting.
#   bench/cluster.sh <members> [u1|t1] [step seconds] [rates...]
#   e.g. bench/cluster.sh 3 u1 30 500 1000 1500
# The idle members run on the same machine (their heartbeats, OPTIONS probes and JVMs take CPU from the measured
# node: on one host the figure is an upper bound of the cluster's cost; OPENRM_BENCH_MEMBER_CPUS pins them away from
# the measured node, see load.sh's OPENRM_BENCH_CPUS). Needs what load.sh needs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
members=${1:-3}; shift
mcpa=${OPENRM_BENCH_MCP_A:-15070}; mcpb=${OPENRM_BENCH_MCP_B:-15071}
base_port=${OPENRM_BENCH_CLUSTER_PORT:-19801}
peers=""
for i in $(seq 1 "$members"); do peers="$peers${peers:+,}127.0.0.1:$(( base_port + i - 1 ))"; done
work=$(mktemp -d /tmp/openrm-cluster-bench.XXXX)
homes=()
cleanup() {
  for h in "${homes[@]}"; do "$h/bin/stop" >/dev/null 2>&1 || true; done
  sleep 2
  for h in "${homes[@]}"; do pkill -f "karaf.base=$h" 2>/dev/null || true; done
  for h in "${homes[@]}"; do
    for i in $(seq 1 60); do pgrep -f "karaf.base=$h" >/dev/null || break; sleep 1; done
    pkill -9 -f "karaf.base=$h" 2>/dev/null || true
  done
}
trap cleanup EXIT
for i in $(seq 2 "$members"); do
  d="$work/n$i"; mkdir -p "$d"
  tar xzf "${OPENRM_BENCH_TARBALL:-$(ls "$root"/assembly/target/openrm-assembly-*.tar.gz)}" -C "$d" --strip-components=1
  homes+=("$d")
  sed -i "s/^listen.port.*/listen.port = $(( 15160 + i ))/" "$d/etc/org.openrm.sip.cfg"
  sed -i "s/^health.port.*/health.port = $(( 18310 + i ))/; s/^metrics.port.*/metrics.port = $(( 18210 + i ))/" "$d/etc/org.openrm.ops.cfg"
  sed -i "s/^sshPort.*/sshPort = $(( 18110 + i ))/" "$d/etc/org.apache.karaf.shell.cfg"
  sed -i "s/^peers =.*/peers = $peers/; s/^bind.port.*/bind.port = $(( base_port + i - 1 ))/; s/^node.id.*/node.id = n$i/" \
    "$d/etc/org.openrm.cluster.cfg"
  for m in 1 2; do
    port=$mcpa; [ "$m" = 2 ] && port=$mcpb
    printf 'lrg = default\nuri = sip:127.0.0.1:%s\ncapacity = 100000\n' "$port" > "$d/etc/org.openrm.resource-mcp$m.cfg"
  done
  OPENRM_JAVA_OPTS="${OPENRM_BENCH_MEMBER_OPTS:--Xms256m -Xmx256m -XX:+UseSerialGC}" "$d/bin/start"
done
# OPENRM_BENCH_MEMBER_CPUS pins the idle members (every thread) to these CPUs, e.g. 0, away from the measured node
if [ -n "${OPENRM_BENCH_MEMBER_CPUS:-}" ]; then
  for h in "${homes[@]}"; do
    for s in $(seq 1 30); do pid=$(pgrep -f "karaf.base=$h" | head -1 || true); [ -n "$pid" ] && break; sleep 1; done
    [ -z "$pid" ] || taskset -a -p -c "$OPENRM_BENCH_MEMBER_CPUS" "$pid" >/dev/null
  done
fi
for h in "${homes[@]}"; do
  for s in $(seq 1 90); do grep -q "Cluster view" "$h/data/log/karaf.log" 2>/dev/null && break; sleep 1; done
done
echo "idle members up: ${homes[*]}"
OPENRM_BENCH_CLUSTER_CFG="peers = $peers
bind.port = $base_port
node.id = n1" "$here/load.sh" "$@"
for h in "${homes[@]}"; do grep -h "Cluster view" "$h/data/log/karaf.log" | tail -1; done
