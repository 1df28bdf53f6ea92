#!/bin/bash
# CDR throughput: billing alone (no SIP) fed endings at a fixed rate, delivering to a real ActiveMQ broker
# with a persistent KahaDB store on loopback. Usage: bench/cdr.sh [rate/s] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-3000}"
seconds="${2:-30}"
mvn -B -q -o install -DskipTests -pl bundles/api,bundles/routing,bundles/sip,bundles/billing 2>/dev/null \
  || mvn -B -q install -DskipTests -pl bundles/api,bundles/routing,bundles/sip,bundles/billing
mvn -B -o test -pl bundles/billing -Dtest=CdrThroughputBench -Dsurefire.failIfNoSpecifiedTests=false \
  -DargLine="-Dopenrm.bench=true -Dopenrm.bench.rate=$rate -Dopenrm.bench.seconds=$seconds -Xmx2g" \
  | grep -E '^t=|CDR bench'
