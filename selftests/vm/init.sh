#!/bin/sh
# shellcheck disable=SC2086 # FS, TESTS, DISKS, $limit: word lists
# /init of the stablepipe test VM (copied there by selftests/vm/check.sh).
# Runs under busybox. Settings come from /etc/stablepipe.conf:
#   MODE          check | demo | signing (signing-vm.sh, check.sh --signing)
#   DISKS         "FS:DEV ..." scratch disks, e.g. "xfs:vda ext4:vdb"
#   FS            filesystems to test on, in order (xfs ext4 tmpfs)
#   TESTS_<fs>    the test programs in /selftests to run on <fs>
#   TEST_TIMEOUT  seconds one test program may run (0: no limit)
# Everything the tests print goes to the console and to /dev/ttyS1, which
# the host reads for the results (kernel messages can break up lines on
# the console). The last line is STABLEPIPE-VM-DONE, then a power-off.
PATH=/bin
export PATH
KO=/stablepipe.ko
RESULTS=/dev/ttyS1

MODE=check DISKS='' FS='' TEST_TIMEOUT=0
# shellcheck disable=SC1091 # written by check.sh
. /etc/stablepipe.conf

count() { echo $#; }

boot() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mount -t tmpfs tmpfs /tmp
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
	while read -r m; do
		insmod "/lib/modules/$m" || echo "init: insmod $m failed"
	done </etc/modules.load
}

# mount_all: one KTAP result per filesystem in FS.
mount_all() {
	echo "TAP version 13"
	echo "1..$(count $FS)"
	n=0
	for fs in $FS; do
		n=$((n + 1))
		if mount_fs "$fs"; then
			echo "ok $n mount $fs on /mnt/$fs"
		else
			echo "not ok $n mount $fs on /mnt/$fs"
		fi
	done
}

mount_fs() {
	case $1 in
	tmpfs) mount -t tmpfs tmpfs /mnt/tmpfs; return ;;
	esac
	dev=
	for d in $DISKS; do
		[ "${d%%:*}" = "$1" ] && dev=/dev/${d#*:}
	done
	[ -n "$dev" ] || { echo "# no disk for $1"; return 1; }
	i=0
	while [ ! -b "$dev" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	mount -t "$1" "$dev" "/mnt/$1"
}

mounted() { grep -q " /mnt/$1 " /proc/mounts; }

# uptime in whole seconds
now() { cut -d. -f1 /proc/uptime; }

# run_prog FS PROG: run /selftests/PROG in /mnt/FS, framed by the lines
# "# fs=FS prog=PROG" and "# exit=RC fs=FS prog=PROG secs=SECONDS".
run_prog() {
	fs=$1 prog=$2 limit='' start=$(now)
	# busybox timeout leaves a watcher process behind for up to a second:
	# start it outside /mnt/$fs, or that filesystem is busy at umount
	[ "$TEST_TIMEOUT" -gt 0 ] && limit="timeout -s KILL $TEST_TIMEOUT"
	echo "# fs=$fs prog=$prog"
	# shellcheck disable=SC2016 # sh -c expands them
	STABLEPIPE_TESTDIR=/mnt/$fs $limit \
		sh -c 'cd "$1" && exec "$2"' sh "/mnt/$fs" "/selftests/$prog" \
		</dev/null 2>&1
	rc=$?
	[ -n "$limit" ] && [ $rc = 137 ] &&
		echo "# $prog: killed after TEST_TIMEOUT=${TEST_TIMEOUT}s?"
	echo "# exit=$rc fs=$fs prog=$prog secs=$(($(now) - start))"
}

run_lifecycle() {
	echo "# fs=none prog=lifecycle"
	lifecycle.sh "$KO" 2>&1
	echo "# exit=$? fs=none prog=lifecycle"
	# which build of the module is loaded (check.sh --dkms compares it)
	echo "# loaded srcversion: $(cat /sys/module/stablepipe/srcversion 2>/dev/null)"
}

# teardown: the module must unload and the filesystems must unmount.
teardown() {
	echo "TAP version 13"
	echo "1..$(($(count $FS) + 1))"
	if ! grep -q '^stablepipe ' /proc/modules; then
		echo "ok 1 rmmod stablepipe at the end # SKIP not loaded"
	elif rmmod stablepipe; then
		echo "ok 1 rmmod stablepipe at the end"
	else
		echo "not ok 1 rmmod stablepipe at the end"
		grep '^stablepipe ' /proc/modules | sed 's/^/# /'
	fi
	n=1
	for fs in $FS; do
		n=$((n + 1))
		if ! mounted "$fs"; then
			echo "ok $n umount /mnt/$fs # SKIP not mounted"
		elif umount "/mnt/$fs"; then
			echo "ok $n umount /mnt/$fs"
		else
			echo "not ok $n umount /mnt/$fs"
		fi
	done
}

kmemleak_scan() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	echo scan >/sys/kernel/debug/kmemleak
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	sed 's/^/# kmemleak: /' /sys/kernel/debug/kmemleak
}

check() {
	mount_all
	# scripts/deadline-test.sh: a VM that never finishes, on purpose
	if [ "${STABLEPIPE_VM_HANG:-0}" = 1 ]; then
		echo "# STABLEPIPE_VM_HANG=1: hanging"
		while :; do sleep 3600; done
	fi
	run_lifecycle
	first=1
	for fs in $FS; do
		mounted "$fs" || continue
		[ $first = 1 ] || { sync; echo 3 >/proc/sys/vm/drop_caches; }
		first=0
		progs=''
		eval "progs=\${TESTS_$fs:-}"
		for prog in $progs; do
			run_prog "$fs" "$prog"
		done
	done
	teardown
	kmemleak_scan
}

demo() {
	mount_all
	insmod "$KO" && echo "# insmod stablepipe.ko: ok"
	echo "# cat /proc/stablepipe"
	cat /proc/stablepipe
	if [ -x /demo/run.sh ]; then
		echo "# fs=xfs prog=demo"
		# The demo's text also goes to the third serial port, which
		# `make demo` shows (the console, with the kernel's messages,
		# goes to a file); -onlcr: no \r before each \n.
		view=/dev/null
		stty -F /dev/ttyS2 -onlcr 2>/dev/null && view=/dev/ttyS2
		{
			(cd /mnt/xfs && PATH=/demo:$PATH STABLEPIPE_TESTDIR=/mnt/xfs \
				DEMO_RESULTS=/tmp/demo.results /demo/run.sh </dev/null)
			echo $? >/tmp/demo.rc
		} 2>&1 | tee "$view"
		echo "# exit=$(cat /tmp/demo.rc) fs=xfs prog=demo"
		# its figures, for check.sh's summary
		sed 's/^/# demo: /' /tmp/demo.results 2>/dev/null
		echo "# cat /proc/stablepipe"
		cat /proc/stablepipe
	else
		echo "# no /demo/run.sh in the initramfs (userspace/demo.sh)"
	fi
	teardown
}

signing() {
	start=$(now)
	echo "# fs=none prog=signing"
	signing-vm.sh 2>&1
	echo "# exit=$? fs=none prog=signing secs=$(($(now) - start))"
}

boot
echo "init: kernel $(uname -r), mode $MODE"
{
	case $MODE in
	demo) demo ;;
	signing) signing ;;
	*) check ;;
	esac
	echo STABLEPIPE-VM-DONE
} 2>&1 | tee "$RESULTS"
sync
sleep 1
poweroff -f
