#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make test`: every gate and every test, as CI runs them (.ci/run):
#
#   lint           checkpatch, sparse, W=1, uapi header, -Werror, i386 (the
#                  tools with gcc -m32, diskbuffer's local tests), cppcheck,
#                  docutils, kernel-doc, mandoc, shellcheck (scripts/lint.sh)
#   dkms-test      dkms add/build/install against the installed headers, and
#                  the skip on a kernel older than the declared range
#   check-dkms     the module DKMS built, loaded and tested in the VM
#   deb-test       the .debs installed into a clean Debian 12 chroot
#   check-NAME     the suite in the VM on the kernel NAME of
#                  selftests/vm/kernels.conf (bookworm, bookworm-backports,
#                  trixie-backports, sid: each suite's newest kernel)
#   check-debug    the reliability lane on the KASAN/lockdep/kmemleak kernel
#   check-nosteal  the module built as for a kernel without ->try_steal
#                  (STABLEPIPE_NO_STEAL=1: it copies everything), on
#                  bookworm's kernel: stability_test and punch_test
#   deadline-test  the deadline below stops a hung VM and still sums up
#                  (scripts/deadline-test.sh)
#   check-all      (as an argument) every check-NAME
#
# Steps run TEST_JOBS at a time (default 2): most of the suite runs one
# thread in a VM, so two VMs keep a 2-core machine busy.  Longest first:
# the debug lane (and, on a cold machine, its kernel build) starts at once.
# check-dkms waits for dkms-test.  deadline-test, which mostly waits for a
# VM that sleeps, runs beside them from the start without taking a slot.  Each step's output goes to
# build/test/STEP.log and, once the step has ended, to the terminal.
#
# Always a verdict: the whole run has a deadline, TEST_DEADLINE seconds
# (default 4500, 75 minutes: CI stops at 90).  A step still running then is
# stopped (its processes, QEMU included, are killed) and counts as failed;
# a step not started by then is not run and counts as failed.  At the end
# comes a table of the steps (result, counts, minutes, and the kernel each
# check-NAME resolved to) and, as the very last line, the sum of their
# counts, "N passed, N failed".  A step that ends without counts counts as
# one failure.  Exit status 0 only if nothing failed.
#
# usage: scripts/test-all.sh [STEP...]      (default: all)
set -u -o pipefail

cd "$(dirname "$0")/.." || exit 1
KERNELS_CONF=selftests/vm/kernels.conf
KERNEL_STEPS=$(awk '$1 !~ /^#/ && NF { printf "check-%s ", $1 }' "$KERNELS_CONF")
ALL_STEPS="lint dkms-test check-dkms deb-test $KERNEL_STEPS check-debug check-nosteal deadline-test"
# the order steps start in: longest first (the 2-core estimates are in
# README.md)
START_ORDER="deadline-test check-debug $KERNEL_STEPS lint dkms-test check-dkms check-nosteal deb-test"
JOBS=${TEST_JOBS:-2}
DEADLINE=${TEST_DEADLINE:-4500}
LOGS=${TEST_LOGS:-build/test}
# the kernel of the reference run of the userspace tools' tests: on the
# others they run on XFS only (see "make test" in README.md)
TOOLS_KERNEL=${TOOLS_KERNEL:-bookworm}

[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "test-all: TEST_JOBS=$JOBS" >&2; exit 2; }
[[ $DEADLINE =~ ^[1-9][0-9]*$ ]] || { echo "test-all: TEST_DEADLINE=$DEADLINE" >&2; exit 2; }

steps='' args=("$@")
[ $# -gt 0 ] || read -ra args <<<"$ALL_STEPS"
for s in "${args[@]}"; do
	[ "$s" = check-all ] && s=$KERNEL_STEPS
	for t in $s; do
		case " $ALL_STEPS " in
		*" $t "*) steps="$steps $t" ;;
		*) echo "test-all: unknown step '$t' (steps: $ALL_STEPS check-all)" >&2; exit 2 ;;
		esac
	done
done
mkdir -p "$LOGS"
rm -f "$LOGS"/*.rc "$LOGS"/*.took

start=$SECONDS
end=$((start + DEADLINE))

# step_command STEP: what the step runs, a line for bash -c.
step_command() {
	case $1 in
	check-dkms | check-debug | lint | dkms-test | deb-test | deadline-test)
		echo "make --no-print-directory $1" ;;
	check-nosteal)
		echo "KERNEL=$TOOLS_KERNEL STABLEPIPE_NO_STEAL=1" \
			"TESTS='stability_test punch_test' VM_OUT=build/vm-nosteal" \
			"selftests/vm/check.sh" ;;
	check-"$TOOLS_KERNEL") echo "KERNEL=${1#check-} selftests/vm/check.sh" ;;
	check-*) echo "KERNEL=${1#check-} TOOLS_FS=xfs selftests/vm/check.sh" ;;
	esac
}

# run_step STEP: run it in the background (in its own process group, with
# the time left until the deadline), its exit status and duration into
# LOGS/STEP.rc and LOGS/STEP.took.
run_step() {
	local step=$1 left=$((end - SECONDS)) t0=$SECONDS
	echo "test-all: started $step ($(((SECONDS - start) / 60)) min in; log: $LOGS/$step.log)"
	(
		timeout -k 20 "$left" bash -c "$(step_command "$step")" \
			</dev/null >"$LOGS/$step.log" 2>&1
		rc=$?
		echo $((SECONDS - t0)) >"$LOGS/$step.took"
		echo $rc >"$LOGS/$step.rc"
	) &
	PIDS[$!]=$step
}

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

# finished STEP: print its log now that it has ended.
finished() {
	local step=$1 took rc
	took=$(cat "$LOGS/$step.took" 2>/dev/null || echo 0)
	rc=$(cat "$LOGS/$step.rc" 2>/dev/null || echo '?')
	echo "======== $step (exit $rc, $((took / 60))m$((took % 60))s) ========"
	cat "$LOGS/$step.log"
}

declare -A PIDS=()
pending=''
for s in $START_ORDER; do
	case " $steps " in *" $s "*) pending="$pending $s" ;; esac
done

# steps that mostly wait: they do not take one of the JOBS slots
LIGHT_STEPS=" deadline-test "
light=0

# The scheduler: start what may start, wait for one to end, repeat.
while :; do
	for s in $pending; do
		if [[ $LIGHT_STEPS == *" $s "* ]]; then
			pending=" $pending "
			pending=${pending/ $s / }
			light=$((light + 1))
			run_step "$s"
			continue
		fi
		[ $((${#PIDS[@]} - light)) -lt "$JOBS" ] || break
		[ $((end - SECONDS)) -gt 30 ] || break
		if [ "$s" = check-dkms ] && [[ " $steps " == *" dkms-test "* ]] &&
			[ ! -f "$LOGS/dkms-test.rc" ]; then
			continue	# needs dkms-test's module
		fi
		pending=" $pending "
		pending=${pending/ $s / }
		run_step "$s"
	done
	[ ${#PIDS[@]} -gt 0 ] || break
	wait -n -p done_pid "${!PIDS[@]}"
	finished "${PIDS[$done_pid]}"
	[[ $LIGHT_STEPS != *" ${PIDS[$done_pid]} "* ]] || light=$((light - 1))
	unset "PIDS[$done_pid]"
done

total_pass=0 total_fail=0 table='' rc=0
for step in $steps; do
	kver=''
	took=$(cat "$LOGS/$step.took" 2>/dev/null || echo 0)
	status=$(cat "$LOGS/$step.rc" 2>/dev/null || echo none)
	pass='' fail=''
	[ -f "$LOGS/$step.log" ] && read -r pass fail < <(counts "$LOGS/$step.log")
	case $step in
	check-*) kver=$(sed -n 's/^==> resolved KERNEL=[^:]*: //p' "$LOGS/$step.log" 2>/dev/null | tail -n1) ;;
	esac
	if [ "$status" = none ]; then
		pass=0 fail=1 verdict="NOT RUN (deadline)"
	elif [ "$status" = 124 ] || [ "$status" = 137 ]; then
		pass=${pass:-0} fail=$((${fail:-0} + 1))
		verdict="FAILED (stopped at the deadline)"
	elif [ -z "$pass" ]; then
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
	table+=$(printf '%-26s %-34s %6s passed %4s failed %4dm%02ds  %s' \
		"$step" "$verdict" "$pass" "$fail" $((took / 60)) $((took % 60)) "$kver")$'\n'
done

echo
echo "======== make test: summary ($(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s, $JOBS at a time, deadline $((DEADLINE / 60)) min; logs in $LOGS/) ========"
printf '%s' "$table"
echo "$total_pass passed, $total_fail failed"
exit $rc
