#!/usr/bin/env bash
# JMH micro-benchmarks of openrm's own per-call hot paths (the wire screen per datagram, the routing decision
# per INVITE). Needs `mvn -B -DskipTests install` done (it builds bench/jmh and writes its class path).
# Arguments go to JMH, e.g. `bench/jmh.sh RouteBench -p resources=50`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jmh="$root/bench/jmh/target"
[ -f "$jmh/cp.txt" ] || { echo "run 'mvn -B -DskipTests install' first (no $jmh/cp.txt)" >&2; exit 1; }
exec java -cp "$jmh/classes:$(cat "$jmh/cp.txt")" org.openjdk.jmh.Main "$@"
