#!/bin/sh
# shellcheck disable=SC2086 # FS, SWEEP_FS, DISKS, *_ARGS: word lists
# /bench/init of the benchmark VM (selftests/vm/bench.sh boots the test
# VM's initramfs with rdinit=/bench/init). Runs under busybox. Settings
# come from /etc/stablepipe.conf (written by bench.sh):
#   DISKS          "FS:DEV ..." scratch disks, e.g. "xfs:vda ext4:vdb"
#   OUTDEV         the raw disk that gets the results, as a tar archive
#   FS             file systems for the matrix, in order
#   MATRIX_ARGS    stablepipe-bench arguments of the matrix
#   KTAP           1: stablepipe-bench --ktap on each of FS first
#   SWEEP_FS       file systems for the size sweep (target 4), or empty
#   SWEEP_ARGS     stablepipe-bench arguments of the sweep
#   DEBATE_FS      file systems for the three strategies' workloads, or empty
#   DEBATE_ARGS    stablepipe-bench arguments of those
#   BUFFERS_FS     file systems for --buffers (diskbuffer, mbuffer, pv), or empty
#   BUFFERS_ARGS   stablepipe-bench arguments of those
# Progress goes to the console; results to /tmp/out, written to OUTDEV as
# a tar archive at the end. The last console line is STABLEPIPE-BENCH-DONE.
# diskbuffer is in /bench, mbuffer and pv (when bench.sh found them) in /bin
PATH=/bin:/bench
export PATH
KO=/stablepipe.ko
BENCH=/bench/stablepipe-bench
OUT=/tmp/out

DISKS='' OUTDEV='' FS='' MATRIX_ARGS='' KTAP=1 SWEEP_FS='' SWEEP_ARGS=''
DEBATE_FS='' DEBATE_ARGS='' BUFFERS_FS='' BUFFERS_ARGS=''
# shellcheck disable=SC1091 # written by bench.sh
. /etc/stablepipe.conf

boot() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mount -t tmpfs tmpfs /tmp
	# the TCP consumer (tcp-* methods) sends over loopback
	ip link set lo up || echo "bench-init: ip link set lo up failed"
	while read -r m; do
		insmod "/lib/modules/$m" || echo "bench-init: insmod $m failed"
	done </etc/modules.load
	mkdir -p "$OUT"
}

mount_fs() {
	case $1 in
	tmpfs) mount -t tmpfs tmpfs /mnt/tmpfs; return ;;
	esac
	dev=
	for d in $DISKS; do
		[ "${d%%:*}" = "$1" ] && dev=/dev/${d#*:}
	done
	[ -n "$dev" ] || { echo "bench-init: no disk for $1"; return 1; }
	i=0
	while [ ! -b "$dev" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	mount -t "$1" "$dev" "/mnt/$1"
}

fresh_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# bench NAME FS ARGS...: one stablepipe-bench run in /mnt/FS; table,
# JSON, CSV and its stderr (progress) into $OUT/NAME.*, its exit status
# into $OUT/NAME.rc.
bench() {
	name=$1 fs=$2
	shift 2
	echo "==> bench-init: $name on $fs: stablepipe-bench $*"
	fresh_caches
	(cd "/mnt/$fs" && "$BENCH" --dir "/mnt/$fs" --json="$OUT/$name.json" \
		--csv="$OUT/$name.csv" "$@" </dev/null >"$OUT/$name.txt" \
		2>"$OUT/$name.log")
	echo $? >"$OUT/$name.rc"
	cat "$OUT/$name.txt"
	grep -E 'ERROR|skipped' "$OUT/$name.log" | head -n 20
}

main() {
	echo "==> bench-init: kernel $(uname -r), $(nproc) CPUs, $(sed -n 's/^MemTotal: *//p' /proc/meminfo) memory"
	insmod "$KO" || echo "bench-init: insmod $KO failed"
	for fs in $FS $SWEEP_FS $DEBATE_FS $BUFFERS_FS; do
		grep -q " /mnt/$fs " /proc/mounts && continue
		mount_fs "$fs" || echo "bench-init: mount $fs failed"
	done
	uname -r >"$OUT/kernel"
	if [ "$KTAP" = 1 ]; then
		for fs in $FS; do
			echo "==> bench-init: stablepipe-bench --ktap on $fs"
			fresh_caches
			(cd "/mnt/$fs" && "$BENCH" --ktap --dir "/mnt/$fs" </dev/null \
				>"$OUT/ktap-$fs.txt" 2>&1)
			echo $? >"$OUT/ktap-$fs.rc"
			tail -n 2 "$OUT/ktap-$fs.txt"
		done
	fi
	for fs in $FS; do
		bench "matrix-$fs" "$fs" $MATRIX_ARGS
	done
	for fs in $SWEEP_FS; do
		bench "sweep-$fs" "$fs" $SWEEP_ARGS
	done
	for fs in $DEBATE_FS; do
		bench "debate-$fs" "$fs" $DEBATE_ARGS
	done
	for fs in $BUFFERS_FS; do
		bench "buffers-$fs" "$fs" $BUFFERS_ARGS
	done
	cat /proc/stablepipe >"$OUT/proc-stablepipe.txt" 2>&1
	dmesg >"$OUT/dmesg.txt"
	for fs in $FS $SWEEP_FS $DEBATE_FS $BUFFERS_FS; do
		umount "/mnt/$fs" 2>/dev/null
	done
	rmmod stablepipe || echo "bench-init: rmmod stablepipe failed"
	if [ -n "$OUTDEV" ] && [ -b "/dev/$OUTDEV" ]; then
		(cd "$OUT" && tar -cf "/dev/$OUTDEV" .) &&
			echo "==> bench-init: results written to /dev/$OUTDEV"
	else
		echo "bench-init: no results disk /dev/$OUTDEV"
	fi
}

boot
main 2>&1
sync
echo STABLEPIPE-BENCH-DONE
sleep 1
poweroff -f
