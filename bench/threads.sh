#!/usr/bin/env bash
# CPU per thread of a running JVM over an interval, busiest first: where a node's CPU goes under load.
#   bench/threads.sh [pid] [seconds]     (pid defaults to the newest bench/load.sh appliance, seconds to 10)
# Reads /proc/<pid>/task/*/stat (utime + stime) twice; prints % of one core per thread name (threads of one pool
# summed, with their count), and the JVM's total.
set -euo pipefail
pid=${1:-}
if [ -z "$pid" ]; then  # the JVM of the newest bench appliance (bench/load.sh unpacks it under /tmp/openrm-bench.*)
  home=$(ls -dt /tmp/openrm-bench.*/openrm-assembly-* 2>/dev/null | head -1)
  [ -z "$home" ] || pid=$(pgrep -f "karaf.base=$home" | head -1)
fi
secs=${2:-10}
[ -n "$pid" ] && [ -d "/proc/$pid" ] || { echo "no such process: '$pid'" >&2; exit 1; }
hz=$(getconf CLK_TCK)
snap() {
  for t in /proc/"$pid"/task/*; do
    local n s
    [ -r "$t/comm" ] || continue  # a thread that ended between the listing and the read
    n=$(tr ' ' '_' < "$t/comm" 2>/dev/null) || continue
    s=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
    # fields after the ")": state is 1, utime 12, stime 13
    echo "${t##*/} $n $(echo "$s" | awk '{print $12 + $13}')"
  done
}
a=$(snap); sleep "$secs"
# a JVM that ended meanwhile (a bench step over, the appliance stopped) has no tasks left to compare with
[ -d "/proc/$pid/task" ] || { echo "process $pid ended during the sample" >&2; exit 1; }
b=$(snap)
join <(echo "$a" | sort -k1,1) <(echo "$b" | sort -k1,1) | awk -v hz="$hz" -v secs="$secs" '
  { name = $2; gsub(/[-_#]?[0-9]+$/, "", name); d = $5 - $3; used[name] += d; count[name]++; total += d }
  END {
    for (n in used) if (used[n] > 0) printf "%6.1f %%  %s (%d)\n", 100 * used[n] / hz / secs, n, count[n]
    printf "%6.1f %%  JVM total\n", 100 * total / hz / secs
  }' | sort -rn
