#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make test`: every gate and every test, one after the other, as CI runs
# them (.ci/run):
#
#   lint         checkpatch, sparse, W=1, uapi header, -Werror, cppcheck,
#                docutils, kernel-doc, mandoc, shellcheck (scripts/lint.sh)
#   dkms-test    dkms add/build/install against the installed headers
#   check-dkms   the module DKMS built, loaded and tested in the VM
#   deb-test     the .debs installed into a clean Debian 12 chroot
#   check-all    the whole suite in the VM on every kernel of
#                selftests/vm/kernels.conf
#   check-debug  the reliability lane on the KASAN/lockdep/kmemleak kernel
#
# Every step runs even when one before it failed; each one's output goes to
# the terminal and to build/test/STEP.log.  At the end: a table of the
# steps (result, counts, minutes) and, as the very last line, the sum of
# their counts, "N passed, N failed".  A step that ends without counts
# counts as one failure.  Exit status 0 only if nothing failed.
#
# usage: scripts/test-all.sh [STEP...]      (default: all, in this order)
set -u -o pipefail

cd "$(dirname "$0")/.." || exit 1
STEPS=${*:-lint dkms-test check-dkms deb-test check-all check-debug}
LOGS=build/test
mkdir -p "$LOGS"

total_pass=0 total_fail=0 table='' rc=0 start=$SECONDS

# counts LOG: "PASS FAIL" from the step's last summary line: check.sh's
# "N passed, N failed", or the packaging scripts' "# totals: pass:N fail:N".
counts() {
	tr -d '\r' <"$1" | awk '
	/^[0-9]+ passed, [0-9]+ failed$/ { p = $1; f = $3; found = 1 }
	/^# totals: pass:[0-9]+ fail:[0-9]+/ {
		split($3, a, ":"); split($4, b, ":"); p = a[2]; f = b[2]; found = 1
	}
	END { if (found) print p, f }'
}

for step in $STEPS; do
	case $step in
	lint | dkms-test | check-dkms | deb-test | check-all | check-debug) ;;
	*) echo "test-all: unknown step '$step'" >&2; exit 2 ;;
	esac
	echo "======== make $step ========"
	t0=$SECONDS
	make --no-print-directory "$step" </dev/null 2>&1 | tee "$LOGS/$step.log"
	status=${PIPESTATUS[0]}
	took=$(((SECONDS - t0) / 60))m$(((SECONDS - t0) % 60))s
	read -r pass fail < <(counts "$LOGS/$step.log")
	if [ -z "${pass:-}" ]; then
		pass=0 fail=1
		verdict="FAILED (no summary line; exit $status)"
	elif [ "$status" -ne 0 ] || [ "$fail" -ne 0 ]; then
		[ "$fail" -eq 0 ] && fail=1
		verdict="FAILED (exit $status)"
	else
		verdict=ok
	fi
	[ "$verdict" = ok ] || rc=1
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	table+=$(printf '%-12s %-34s %6s passed %4s failed %8s' \
		"$step" "$verdict" "$pass" "$fail" "$took")$'\n'
	unset pass fail
done

echo
echo "======== make test: summary ($(((SECONDS - start) / 60)) minutes; logs in $LOGS/) ========"
printf '%s' "$table"
echo "$total_pass passed, $total_fail failed"
exit $rc
