#!/bin/sh
# run.sh - every test that needs no GPU: unit programs, then the bats suites.
# Each prints TAP; this script passes it through and ends with the line
# "N passed, N failed". Exit status 0 only when nothing failed.
#
#   B=/abs/build sh tests/run.sh [SUITE...]     (SUITE: unit cli sim netns)
#
# The cli and sim suites run XMIG_TEST_JOBS tests at a time (default 2, as
# many as CI's cores; bats hands them to GNU parallel): each test has its
# own runtime directory and sim GPUs, and most of their time is jobs
# sleeping between rounds. The netns suite makes network namespaces and
# runs one test at a time.
set -u
: "${B:?B must name the build directory}"
cd "$(dirname "$0")/.." || exit 1
export B XMIG_TEST_BUILD="$B"
suites=${*:-unit cli sim netns}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for s in $suites; do
	case $s in
	unit)
		for t in "$B"/tests/unit/test-*; do
			[ -x "$t" ] || continue
			echo "# unit: $(basename "$t")"
			"$t" 2>&1 | tee -a "$log"
			# A crash or a missing plan still counts as a failure.
			st=$?
			[ $st -le 1 ] || echo "not ok - $(basename "$t") exited with status $st" | tee -a "$log"
		done
		;;
	*)
		set -- tests/"$s"/*.bats
		[ -e "$1" ] || continue
		echo "# bats: tests/$s"
		jobs=1
		case $s in cli|sim) command -v parallel >/dev/null && jobs=${XMIG_TEST_JOBS:-2} ;; esac
		bats --jobs "$jobs" --tap "$@" 2>&1 | tee -a "$log"
		;;
	esac
done

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
