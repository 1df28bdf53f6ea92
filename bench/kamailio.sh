#!/usr/bin/env bash
# The reference: the same load steps as bench/load.sh (same sipp UAC and media servers, same stats), through
# Kamailio's dispatcher instead of openrm (bench/kamailio/kamailio.cfg: stateful t_relay, record-route,
# round-robin with OPTIONS probing, failover, 4 workers, 4 MB socket buffers). Run it and bench/load.sh back to
# back in one sitting and compare the ratios.
#   bench/kamailio.sh [u1|t1] [step seconds] [rates...]
# Needs: Debian's kamailio (apt-get install kamailio), sipp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v kamailio >/dev/null || { echo "kamailio is not installed (apt-get install kamailio)" >&2; exit 1; }
OPENRM_BENCH_PROXY=kamailio exec "$here/load.sh" "$@"
