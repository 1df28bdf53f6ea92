#!/usr/bin/env bash
# Watch calls flow: sipp as media server (UAS on 5070, the embedded default resource) and as SIP Server
# (UAC on 5090) through an openrm appliance already running on 5060 with its embedded defaults.
#   bench/demo.sh [calls] [rate]      default 100 calls at 10/s, held 2 s
# Prints sipp's final screen (calls, messages, response times); logs stay in the folder it names.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
calls=${1:-100}; rate=${2:-10}
work=$(mktemp -d /tmp/openrm-demo.XXXX)
cd "$work"
sipp -sf "$here/sipp/uas.xml" -i 127.0.0.1 -p 5070 -nostdin -trace_err >uas.out 2>&1 &
uas=$!
trap 'kill $uas 2>/dev/null || true' EXIT
sleep 0.5
set +e
sipp -sf "$here/sipp/uac.xml" -i 127.0.0.1 -p 5090 -s 5551234 -d 2000 -m "$calls" -r "$rate" -nostdin \
  -trace_screen -trace_err 127.0.0.1:5060 >uac.out 2>&1
rc=$?
set -e
cat "$work"/uac_*_screen.log 2>/dev/null | sed -n '/Successful call/,/Failed call/p'
echo "sipp exit code $rc (0: every call succeeded); logs in $work"
exit $rc
