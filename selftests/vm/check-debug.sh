#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The reliability lane: `make check-debug` runs this. It builds (once, then
# from the cache) the debug kernel of debug-kernel.sh - linux-source-6.1
# from allnoconfig, minimal.config and debug.config (KASAN, lockdep,
# kmemleak, fault injection) - and runs check.sh on it: the module's tests,
# with the reliability tests (selftests/reliability.h) at their debug-kernel
# lengths; those whose result depends on the filesystem (FS_TESTS in
# selftests/Makefile) on XFS, ext4 and tmpfs, the others on XFS. Any
# KASAN, lockdep, kmemleak, WARNING or BUG report on the console fails the
# run (report.sh), as does any failed test.
#
# Then it sums up the lane: operations done, bytes verified, faults
# injected, signals delivered (from the tests' "# reliability:" lines) and
# kernel reports; the very last line is check.sh's "N passed, N failed".
#
# usage: selftests/vm/check-debug.sh
# Settings (environment), besides those of check.sh:
#   STRESS_SECONDS=60    stress_test's run (it does not depend on the
#                        filesystem: it runs once; 600 for a 10-minute run)
#   VM_MEM=2048          VM memory, MiB (KASAN takes an eighth)
#   VM_TIMEOUT=3000      seconds before the VM run is killed
#   DEBUG_TOOLS_TESTS=0  1: also run the userspace tools' tests (see below)
# The tests' own settings (STABLEPIPE_*_SECONDS and the like, see each
# test's header) are passed to them on the kernel command line: put them
# in VM_APPEND, e.g. VM_APPEND="STABLEPIPE_FAULT_PERCENT=20".
# shellcheck source-path=SCRIPTDIR
set -eu -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd -P)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

STRESS_SECONDS=${STRESS_SECONDS:-60}
[[ $STRESS_SECONDS =~ ^[0-9]+$ ]] || die "STRESS_SECONDS=$STRESS_SECONDS is not a number"
export KERNELS_CONF=$HERE/kernels-debug.conf KERNEL=debug
export VM_MEM=${VM_MEM:-2048}
export VM_TIMEOUT=${VM_TIMEOUT:-3000}
# The userspace tools' tests are left out: under KASAN they took 12
# minutes on XFS alone (stablesplice_test 320 s, diskbuffer_seed_test.sh
# 268 s), more than the rest of the lane.  They drive the module through
# the same paths as the module's own tests, and make test runs them on
# every kernel.  TESTS= (or DEBUG_TOOLS_TESTS=1) runs them here too; which
# they are is TOOLS_TESTS in selftests/Makefile.
if [ -z "${TESTS:-}" ] && [ "${DEBUG_TOOLS_TESTS:-0}" != 1 ]; then
	TESTS=$(make -s --no-print-directory -C "$REPO/selftests" list-module-tests) ||
		die "make -C selftests list-module-tests failed"
	export TESTS
fi
# Unknown name=value kernel parameters become init's environment, which
# the tests inherit.
# DISKBUFFER_TEST_TIMING=0: diskbuffer_test.sh asserts no speed here
# rcu_cpu_stall_timeout=120: under TCG on a busy 2-core host (make test
# runs two VMs), this kernel's boot (ACPI's interpreter with KASAN and
# kmemleak) has held a CPU past the default 21 s: a stall report about
# the host, not the module.  Lockdep, hung tasks and the tests still
# catch a module that does not let go.
export VM_APPEND="${VM_APPEND:+$VM_APPEND }rcupdate.rcu_cpu_stall_timeout=120 STABLEPIPE_STRESS_SECONDS=$STRESS_SECONDS DISKBUFFER_TEST_TIMING=0"

# summary RESULTS CHECK_LOG: the lane's figures.
summary() {
	local results=$1 log=$2 reports
	reports=$(sed -n 's/^kernel reports: \([0-9]*\)$/\1/p' "$log" | tail -n1)
	echo
	echo "==== stablepipe reliability lane (debug kernel $KVER) ===="
	tr -d '\r' <"$results" | awk -v reports="${reports:-?}" '
	/^# reliability: / {
		for (i = 3; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "prog") prog = kv[2]
			else if (kv[1] == "fs") fs = kv[2]
			else { sum[kv[1]] += kv[2]; per[prog, kv[1]] += kv[2] }
		}
		if (!(prog in seen)) { seen[prog] = 1; order[++n] = prog }
		runs[prog] = runs[prog] " " fs
	}
	END {
		# %.0f: the sums outgrow a 32-bit %d in mawk
		printf "%-14s %12s %14s %10s %10s  %s\n", "test", "operations",
			"bytes verified", "faults", "signals", "filesystems"
		for (i = 1; i <= n; i++) {
			p = order[i]
			printf "%-14s %12.0f %14.0f %10.0f %10.0f %s\n", p, per[p, "ops"],
				per[p, "bytes"], per[p, "faults"], per[p, "signals"], runs[p]
		}
		printf "%-14s %12.0f %14.0f %10.0f %10.0f\n", "total", sum["ops"],
			sum["bytes"], sum["faults"], sum["signals"]
		printf "operations %.0f, bytes verified %.0f, faults injected %.0f, signals delivered %.0f, kernel reports %s\n",
			sum["ops"], sum["bytes"], sum["faults"], sum["signals"], reports
	}'
}

main() {
	local vars log rc=0 start=$SECONDS last
	[ $# -eq 0 ] || die "usage: selftests/vm/check-debug.sh (settings in the environment)"
	say "the debug kernel (selftests/vm/debug-kernel.sh; cached)"
	vars=$("$HERE/debug-kernel.sh" --print) || die "building the debug kernel failed"
	eval "$vars"
	log=$REPO/build/vm/check-debug.log
	mkdir -p "$REPO/build/vm"
	"$HERE/check.sh" </dev/null 2>&1 | tee "$log" || rc=$?
	last=$(tail -n1 "$log" | tr -d '\r')
	if [ -f "$REPO/build/vm/$KVER/results.log" ]; then
		summary "$REPO/build/vm/$KVER/results.log" "$log"
	fi
	echo "check-debug took $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s (debug kernel build times: $(tr '\n' ' ' <"$(dirname "$KDIR")/times"))"
	# check.sh's verdict stays the very last line
	[[ $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]] && echo "$last"
	return "$rc"
}

main "$@"
