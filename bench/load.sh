#!/usr/bin/env bash
# Load benchmark: unpacks the built appliance into a scratch folder, points it at two sipp media servers,
# and drives sipp (INVITE-200-ACK, 1 s pause, BYE) at rising call rates, one step per rate.
#   bench/load.sh [u1|t1] [step seconds] [rates...]
#   e.g. bench/load.sh u1 30 500 1000 1500 2000 2500 3000
# Prints per step: offered rate, calls, failed, failure %, setup latency p50/p99 (ms), the number of
# seconds in which calls failed and the last of them (recovery), the host's UDP receive-buffer drops and the 503s
# openrm's guard sent in the step, and the highest rate with < 0.1 % failed
# calls. Setup latency is INVITE sent to 200 received at the sipp UAC. Needs: mvn -DskipTests install done, sipp installed.
# The UAC ignores what arrives during its hold (-pause_msg_ign): a proxy with parallel workers (Kamailio) may
# relay a 180 after the 200 that overtook it, which the caller must ignore, and sipp would count as a failure.
# OPENRM_BENCH_PROXY=kamailio runs the same steps through Kamailio instead (bench/kamailio.sh); OPENRM_BENCH_CPUS pins
# the openrm JVM to CPUs (taskset), OPENRM_BENCH_PEER_CPUS the sipp peers; OPENRM_BENCH_ALLOC=1 adds bytes allocated per call (JFR).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# OPENRM_BENCH_PEER_CPUS pins the sipp peers (SIP Server and media servers) to these CPUs, e.g. 0
peer_pin=""; [ -z "${OPENRM_BENCH_PEER_CPUS:-}" ] || peer_pin="taskset -c $OPENRM_BENCH_PEER_CPUS"
root=$(cd "$here/.." && pwd)
transport=${1:-u1}; step=${2:-30}; shift $(( $# >= 2 ? 2 : $# ))
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(500 1000 1500 2000 2500 3000)
sip=${OPENRM_BENCH_SIP_PORT:-15060}; mcpa=${OPENRM_BENCH_MCP_A:-15070}; mcpb=${OPENRM_BENCH_MCP_B:-15071}
uacport=${OPENRM_BENCH_UAC_PORT:-15090}
suffix=""; [ "$transport" = t1 ] && suffix=";transport=tcp"

for p in "$sip" "$mcpa" "$mcpb" "$uacport"; do
  if ss -Hlun "sport = :$p" | grep -q . || ss -Hltn "sport = :$p" | grep -q .; then
    echo "port $p is in use (another benchmark still running?)" >&2; exit 1
  fi
done
work=$(mktemp -d /tmp/openrm-bench.XXXX)
pids=()
# OPENRM_BENCH_PROXY=kamailio: the same steps through Kamailio's dispatcher (bench/kamailio.sh) instead of openrm
proxy=${OPENRM_BENCH_PROXY:-openrm}
if [ "$proxy" = kamailio ]; then
  kdir="$work/kamailio"; mkdir -p "$kdir"
  printf '1 sip:127.0.0.1:%s%s\n1 sip:127.0.0.1:%s%s\n' "$mcpa" "$suffix" "$mcpb" "$suffix" > "$kdir/dispatcher.list"
  modules=$(dirname "$(find /usr/lib -name dispatcher.so -path '*kamailio*' | head -1)")
  sed "s|__PORT__|$sip|g; s|__LIST__|$kdir/dispatcher.list|; s|__MODULES__|$modules/|" "$here/kamailio/kamailio.cfg" > "$kdir/kamailio.cfg"
  cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ ! -f "$kdir/kamailio.pid" ] || kill "$(cat "$kdir/kamailio.pid")" 2>/dev/null || true
    sleep 2
    pkill -f "kamailio -f $kdir/kamailio.cfg" 2>/dev/null || true
  }
  trap cleanup EXIT
  # -m: shared memory (MB) for transactions at the highest rates; -M: per-process memory
  kamailio -f "$kdir/kamailio.cfg" -P "$kdir/kamailio.pid" -w "$kdir" -m "${OPENRM_BENCH_KAMAILIO_SHM:-1024}" -M 16 -DD -E \
    > "$kdir/kamailio.log" 2>&1 &
  for i in $(seq 1 30); do ss -Hlun "sport = :$sip" | grep -q . && break; sleep 1; done
  ss -Hlun "sport = :$sip" | grep -q . || { echo "Kamailio did not start:" >&2; tail -5 "$kdir/kamailio.log" >&2; exit 1; }
  # the CPU and memory of every Kamailio process (main, workers, timers)
  cpu_ticks() { local t=0 p; for p in $(pgrep -f "kamailio -f $kdir/kamailio.cfg"); do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$t"; }
  rss_mb() { local k=0 p; for p in $(pgrep -f "kamailio -f $kdir/kamailio.cfg"); do k=$(( k + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0) )); done; echo $(( k / 1024 )); }
  ready() { return 0; }
else
  # OPENRM_BENCH_TARBALL: another build of the appliance (an A/B comparison in one sitting)
  tar xzf "${OPENRM_BENCH_TARBALL:-$(ls "$root"/assembly/target/openrm-assembly-*.tar.gz)}" -C "$work"
  rm_home=$(echo "$work"/openrm-assembly-*)
  sed -i "s/^listen.port.*/listen.port = $sip/" "$rm_home/etc/org.openrm.sip.cfg"
  [ ! -f "$rm_home/etc/org.openrm.ops.cfg" ] || sed -i "s/^health.port.*/health.port = ${OPENRM_BENCH_HEALTH_PORT:-18300}/; s/^metrics.port.*/metrics.port = ${OPENRM_BENCH_METRICS_PORT:-18200}/" "$rm_home/etc/org.openrm.ops.cfg"
  sed -i "s/^sshPort.*/sshPort = 18101/" "$rm_home/etc/org.apache.karaf.shell.cfg"
  # OPENRM_BENCH_SIP_CFG / OPENRM_BENCH_CLUSTER_CFG: "key = value" lines that replace those keys in
  # org.openrm.sip.cfg / org.openrm.cluster.cfg, to try a setting (bench/cluster.sh makes the node a cluster member)
  override() {
    local file=$1 line key
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      key=$(echo "${line%%=*}" | tr -d ' ')
      sed -i "/^$key *=/d" "$file"
      echo "$line" >> "$file"
    done
  }
  override "$rm_home/etc/org.openrm.sip.cfg" <<< "${OPENRM_BENCH_SIP_CFG:-}"
  override "$rm_home/etc/org.openrm.cluster.cfg" <<< "${OPENRM_BENCH_CLUSTER_CFG:-}"
  cat > "$rm_home/etc/org.openrm.resource-mcp1.cfg" <<CFG
lrg = default
uri = sip:127.0.0.1:$mcpa$suffix
capacity = 100000
CFG
  cat > "$rm_home/etc/org.openrm.resource-mcp2.cfg" <<CFG
lrg = default
uri = sip:127.0.0.1:$mcpb$suffix
capacity = 100000
CFG
  cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "$rm_home/bin/stop" >/dev/null 2>&1 || true
    sleep 2
    pkill -f "karaf.base=$rm_home" 2>/dev/null || true
    # SIGTERM drains calls first: wait for the JVM to be gone (bounded), so the next run starts on a quiet machine
    for i in $(seq 1 60); do pgrep -f "karaf.base=$rm_home" >/dev/null || return 0; sleep 1; done
    pkill -9 -f "karaf.base=$rm_home" 2>/dev/null || true
  }
  trap cleanup EXIT
  started_at=$(date +%s%N)
  "$rm_home/bin/start"
  for i in $(seq 1 60); do
    grep -q "SIP proxy listening" "$rm_home/data/log/karaf.log" 2>/dev/null && break; sleep 1
  done
  jvm=$(pgrep -f "karaf.base=$rm_home" | head -1)
  # OPENRM_BENCH_CPUS: pin the openrm JVM (every thread) to these CPUs, e.g. 0 or 0,1 (the sipp peers stay unpinned
  # unless OPENRM_BENCH_PEER_CPUS pins them too)
  [ -z "${OPENRM_BENCH_CPUS:-}" ] || taskset -a -p -c "$OPENRM_BENCH_CPUS" "$jvm" >/dev/null
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$jvm/stat"; }
  # resident memory of the openrm JVM (what the operator's monitoring sees)
  rss_mb() { awk '/^VmRSS/{printf "%d", $2 / 1024}' "/proc/$jvm/status"; }
  # the node ready (/health/ready 200: configuration, SIP, a media server in service, and in a cluster its shares)
  # before the first call, as a SIP Server that follows readiness would do
  ready() {
    for i in $(seq 1 60); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${OPENRM_BENCH_HEALTH_PORT:-18300}/health/ready")" = 200 ] && return 0
      sleep 1
    done
  }
fi
hz=$(getconf CLK_TCK)
# OPENRM_BENCH_HOLD_MS: how long each call is held (sipp's pause; 1000 by default), e.g. 60000 for 50,000+ concurrent calls
hold=${OPENRM_BENCH_HOLD_MS:-1000}
cd "$work"
$peer_pin sipp -sf "$here/sipp/uas.xml" -i 127.0.0.1 -p "$mcpa" -t "$transport" -nostdin -max_socket 60000 -buff_size 4194304 >/dev/null 2>&1 & pids+=($!)
$peer_pin sipp -sf "$here/sipp/uas.xml" -i 127.0.0.1 -p "$mcpb" -t "$transport" -nostdin -max_socket 60000 -buff_size 4194304 >/dev/null 2>&1 & pids+=($!)
ready
# time from bin/start to ready (configuration, SIP, warm-up, a media server in service)
[ -z "${started_at:-}" ] || echo "ready $(( ($(date +%s%N) - started_at) / 1000000 )) ms after bin/start"
# Kamailio's dispatcher marks its destinations by probing: give it a probe round
[ "$proxy" != kamailio ] || sleep 6

# per step also: datagrams the kernel dropped for a full receive buffer, host-wide (nstat UdpRcvbufErrors: the proxy's
# and the sipp peers' sockets), and new INVITEs openrm's overload guard answered 503 (its /metrics; - for Kamailio)
udp_drops() { nstat -az UdpRcvbufErrors 2>/dev/null | awk '/UdpRcvbufErrors/{print $2; f=1} END{if(!f) print 0}'; }
shed_count() {
  [ "$proxy" = openrm ] || { echo -; return; }
  curl -s --max-time 2 "http://127.0.0.1:${OPENRM_BENCH_METRICS_PORT:-18200}/metrics" 2>/dev/null \
    | awk '/^openrm_overload_rejected_total /{printf "%d", $2; f=1} END{if(!f) print 0}'
}
printf '%-8s %-8s %-8s %-8s %-8s %-8s %-8s %-12s %-8s %-10s %-9s %s\n' rate calls ok failed fail% p50ms p99ms cpu-us/call rss-MB udp-drops shed-503 failing-seconds@last
best=0
for rate in "${rates[@]}"; do
  calls=$(( rate * step ))
  d="$work/step-$transport-$rate"; mkdir -p "$d"; cd "$d"
  set +e
  # OPENRM_BENCH_ALLOC=1: a JFR recording over the step; bytes allocated per call from its per-thread counters
  [ "${OPENRM_BENCH_ALLOC:-0}" != 1 ] || [ "$proxy" != openrm ] || jcmd "$jvm" JFR.start name=step settings=default filename="$d/step.jfr" >/dev/null 2>&1
  t0=$(cpu_ticks); k0=$(udp_drops); s0=$(shed_count)
  timeout $(( step + 90 + hold / 1000 )) $peer_pin sipp -sf "$here/sipp/uac.xml" -i 127.0.0.1 -p "$uacport" -t "$transport" -s 5551234 \
    -r "$rate" -m "$calls" -d "$hold" -l $(( rate * 20 + rate * hold / 1000 )) -nostdin -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1000 -trace_err -pause_msg_ign \
    -max_socket 60000 -buff_size 4194304 -timeout $(( step + 60 + hold / 1000 ))s 127.0.0.1:$sip >/dev/null 2>&1
  set -e
  t1=$(cpu_ticks); k1=$(udp_drops); s1=$(shed_count)
  kd=$(( k1 - k0 )); sd=-; [ "$s0" = - ] || sd=$(( s1 - s0 ))
  alloc=""
  if [ "${OPENRM_BENCH_ALLOC:-0}" = 1 ] && [ "$proxy" = openrm ]; then
    jcmd "$jvm" JFR.stop name=step >/dev/null 2>&1
    alloc=$(jfr print --json --events jdk.ThreadAllocationStatistics "$d/step.jfr" | python3 -c '
import json, sys
events = json.load(sys.stdin)["recording"]["events"]
lo, hi = {}, {}
for e in events:
    t = e["values"]["thread"]
    k = (t or {}).get("javaThreadId") if isinstance(t, dict) else t
    a = e["values"]["allocated"]
    lo[k] = min(lo.get(k, a), a); hi[k] = max(hi.get(k, a), a)
print(sum(hi[k] - lo[k] for k in hi))' 2>/dev/null)
    alloc=$(awk -v a="${alloc:-0}" -v c="$calls" 'BEGIN{printf " alloc-KB/call=%.1f", a / 1024 / (c > 0 ? c : 1)}')
  fi
  ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") c=i} END{print $c}' stat.csv)
  failed=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i} END{print $c}' stat.csv)
  read -r p50 p99 < <(cat ./*_rtt.csv 2>/dev/null | awk -F';' '$2 ~ /^[0-9.]+$/ {print $2}' | sort -n | awk '{a[NR]=$1} END{ if (NR == 0) { print "- -" } else { i = int(NR * 0.5) + 1; j = int(NR * 0.99) + 1; if (i > NR) i = NR; if (j > NR) j = NR; print a[i], a[j] } }')
  pct=$(awk -v f="$failed" -v c="$calls" 'BEGIN{printf "%.3f", (c>0? 100*f/c : 0)}')
  # per-second failures: in how many seconds of the step calls failed, and the last such second
  fsec=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="FailedCall(P)") f=i; if($i=="ElapsedTime(C)") t=i}; next} $f>0 {n++; split($t,a,":"); last=a[1]*3600+a[2]*60+a[3]} END{printf "%d@%ss", n, (n? last : "-")}' stat.csv)
  # CPU of the proxy (the openrm JVM, or every Kamailio process; user + system) over the step, per call placed
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v c="$calls" 'BEGIN{printf "%.0f", (b - a) * 1e6 / hz / (c > 0 ? c : 1)}')
  # memory at the end of the step: the openrm JVM's RSS, Kamailio's processes' PSS (their shared memory once)
  rss=$(rss_mb)
  printf '%-8s %-8s %-8s %-8s %-8s %-8s %-8s %-12s %-8s %-10s %-9s %s%s\n' "$rate" "$calls" "$ok" "$failed" "$pct" "$p50" "$p99" "$cpu" "$rss" "$kd" "$sd" "$fsec" "$alloc"
  if awk -v p="$pct" -v o="$ok" -v c="$calls" -v b="$best" -v r="$rate" 'BEGIN{exit !(p < 0.1 && o + 0 >= c * 0.999 && r + 0 > b + 0)}'; then best=$rate; fi
  cd "$work"
  sleep 5
done
echo "highest rate with < 0.1 % failed calls ($transport): $best calls/s"
echo "logs: $work"
