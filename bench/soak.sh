#!/usr/bin/env bash
# Swap soak: the built appliance under a steady sipp load while every openrm bundle is updated in turn
# (bundle:update through bin/client, the sip bundle - the proxy logic - twice). Prints per update: when, how long the command took
# until every openrm component was active again (the pause), and the calls that failed in the seconds around it;
# then the totals and the counters left at the end (sessions, ports).
#   bench/soak.sh [u1|t1] [rate] [seconds between updates]
#   e.g. bench/soak.sh u1 500 15
# Needs: mvn -DskipTests install done, sipp installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
transport=${1:-u1}; rate=${2:-500}; gap=${3:-15}
bundles=(routing health billing ops snmp configsync cluster sip sip)
sip=${OPENRM_BENCH_SIP_PORT:-15060}; mcpa=${OPENRM_BENCH_MCP_A:-15070}; mcpb=${OPENRM_BENCH_MCP_B:-15071}
uacport=${OPENRM_BENCH_UAC_PORT:-15090}; ssh=${OPENRM_BENCH_SSH_PORT:-18101}
suffix=""; [ "$transport" = t1 ] && suffix=";transport=tcp"
work=$(mktemp -d /tmp/openrm-soak.XXXX)
tar xzf "${OPENRM_BENCH_TARBALL:-$(ls "$root"/assembly/target/openrm-assembly-*.tar.gz)}" -C "$work"
rm_home=$(echo "$work"/openrm-assembly-*)
sed -i "s/^listen.port.*/listen.port = $sip/" "$rm_home/etc/org.openrm.sip.cfg"
sed -i "s/^sshPort.*/sshPort = $ssh/" "$rm_home/etc/org.apache.karaf.shell.cfg"
[ ! -f "$rm_home/etc/org.openrm.ops.cfg" ] || sed -i "s/^health.port.*/health.port = ${OPENRM_BENCH_HEALTH_PORT:-18300}/; s/^metrics.port.*/metrics.port = ${OPENRM_BENCH_METRICS_PORT:-18200}/" "$rm_home/etc/org.openrm.ops.cfg"
for p in "$sip" "$mcpa" "$mcpb" "$uacport" "$ssh" "${OPENRM_BENCH_HEALTH_PORT:-18300}"; do
  if ss -Hlun "sport = :$p" | grep -q . || ss -Hltn "sport = :$p" | grep -q .; then
    echo "port $p is in use (another benchmark still running?)" >&2; exit 1
  fi
done
pw="soak-$RANDOM$RANDOM"
printf 'soak = %s,_g_:admingroup\n_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n' "$pw" > "$rm_home/etc/users.properties"
for r in a b; do
  port=$mcpa; [ $r = b ] && port=$mcpb
  printf 'lrg = default\nuri = sip:127.0.0.1:%s%s\ncapacity = 100000\n' "$port" "$suffix" > "$rm_home/etc/org.openrm.resource-mcp$r.cfg"
done
rm -f "$rm_home/etc/org.openrm.resource-mcp1.cfg"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # no shutdown drain: calls a SIP Server abandoned without BYE would hold it for drain.timeout.s
  pkill -9 -f "karaf.base=$rm_home" 2>/dev/null || true
  sleep 1
}
trap cleanup EXIT
client() { "$rm_home/bin/client" -a "$ssh" -h 127.0.0.1 -u soak -p "$pw" -r 10 -d 1 -b 2>/dev/null || true; }
"$rm_home/bin/start"
for i in $(seq 1 60); do grep -q "SIP proxy listening" "$rm_home/data/log/karaf.log" 2>/dev/null && break; sleep 1; done
cd "$work"
for port in $mcpa $mcpb; do
  sipp -sf "$here/sipp/uas.xml" -i 127.0.0.1 -p "$port" -t "$transport" -nostdin -max_socket 60000 -buff_size 4194304 >/dev/null 2>&1 & pids+=($!)
done
# load starts once the node reports ready (configuration, SIP listening and warm, a media server in service)
health=${OPENRM_BENCH_HEALTH_PORT:-18300}
for i in $(seq 1 120); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health/health/ready")" = 200 ] && break; sleep 1
done
sleep 2
# each update also costs bin/client its own start (seconds): the load covers them all
total=$(( (gap + 10) * (${#bundles[@]} + 1) ))
calls=$(( rate * total ))
sipp -sf "$here/sipp/uac.xml" -i 127.0.0.1 -p "$uacport" -t "$transport" -s 5551234 -r "$rate" -m "$calls" -d 1000 \
  -l $(( rate * 20 )) -nostdin -trace_stat -stf stat.csv -fd 1 -max_socket 60000 -buff_size 4194304 \
  -timeout $(( total + 60 ))s 127.0.0.1:$sip >/dev/null 2>&1 & uac=$!; pids+=($uac)
start=$(date +%s)
printf '%-8s %-6s %-8s\n' bundle at-s pause-ms > updates.txt
for b in "${bundles[@]}"; do
  sleep "$gap"
  jar=$(ls "$root"/bundles/$b/target/org.openrm.$b-*.jar | grep -v tests | head -1)
  at=$(( $(date +%s) - start ))
  t0=$(date +%s%3N)
  printf 'bundle:update org.openrm.%s file:%s\n' "$b" "$jar" | client >/dev/null
  # the command's round trip (bin/client's own start, about a second, included): bundle:update returns once the
  # new revision is started; the component's own stop-to-active time is in karaf.log (see below)
  t1=$(date +%s%3N)
  printf '%-8s %-6s %-8s\n' "$b" "$at" "$(( t1 - t0 ))" >> updates.txt
done
wait "$uac" || true
sleep 3
echo "soak: $transport, $rate calls/s, an update every $gap s; appliance $rm_home"
# failed calls per second of the run, then attributed to the update whose window (its second to the next) holds them
awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="FailedCall(P)") f=i; if($i=="ElapsedTime(C)") t=i}; next}
  {split($t,a,":"); print int(a[1]*3600+a[2]*60+a[3]), $f+0}' stat.csv > failed-per-second.txt
printf '%-8s %-6s %-8s %s\n' bundle at-s pause-ms failed-calls-until-next
tail -n +2 updates.txt | while read -r b at pause; do
  f=$(awk -v a="$at" -v g="$gap" '$1 >= a && $1 < a + g {s += $2} END{print s+0}' failed-per-second.txt)
  printf '%-8s %-6s %-8s %s\n' "$b" "$at" "$pause" "$f"
done
ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") c=i} END{print $c}' stat.csv)
failed=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i} END{print $c}' stat.csv)
echo "calls $calls, successful $ok, failed $failed"
echo "stop-to-active per update, from karaf.log:"
grep -a -E "SIP proxy logic (stopping|running)|Replaced proxy logic retired|SIP proxy listening|Routing model applied|Health monitor (watching|stopped)|Billing to |ops stopped|ops: health probes|SNMP sub-agent (stopped|for)" \
  "$rm_home/data/log/karaf.log" | awk -F'|' '{print substr($1, 12, 12), $NF}' | cut -c1-90
printf 'rm:stats\n' | client | grep -E "calls in progress|ports in use" || true
printf 'rm:sessions\n' | client | head -20 || true
echo "logs: $work"
