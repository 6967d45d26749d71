#!/bin/bash
# core.sh BUILD - the core benchmark natively and under xmig, same GPU, same
# run, as a markdown table (issue: device proxy core).
set -euo pipefail
B=$1
bin=$B/tests/bench/core_bench
native=$("$bin")
xmig=$("$B/bin/xmig" run --job bench-core -- "$bin")
echo "| metric | native | xmig | xmig - native |"
echo "|---|---:|---:|---:|"
join <(sort <<<"$native") <(sort <<<"$xmig") |
	awk '{ printf "| %s | %s | %s | %+.2f |\n", $1, $2, $3, $3 - $2 }'
