#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: run userspace/stablepipe-bench in the QEMU VM of the test
# harness (same kernels, initramfs and module build as check.sh) on XFS,
# ext4 and tmpfs, then a size sweep (1 MiB to 1 GiB) on XFS and ext4, the
# three strategies' workloads (reference, copy always, steal or copy; pipe
# and TCP consumer; warm, cold and hot file) and diskbuffer against
# mbuffer and pv on XFS and ext4, and write the tables, JSON, CSV and
# plots to results/KVER/.
#
# usage: selftests/vm/bench.sh
#
# Under TCG (the default) absolute numbers mean nothing; ratios between
# the methods of one run do. STABLEPIPE_KVM=1 uses KVM where it works; on
# a machine with the module loaded, run userspace/stablepipe-bench itself.
#
# Settings (environment):
#   KERNEL=6.1                  the VM kernel, a name from kernels.conf
#   VM_MEM=3072                 VM memory, MiB (the sweep keeps 1 GiB cached)
#   BENCH_TIMEOUT=5400          seconds before the VM is killed
#   BENCH_FS="xfs ext4 tmpfs"   file systems of the matrix
#   BENCH_SIZE=64M              file size of the matrix
#   BENCH_REPS=5                repetitions (the median and min/max are kept)
#   BENCH_METHODS=all           methods (stablepipe-bench --list-methods)
#   BENCH_SOURCES=all           warm,cold,mapped,mem
#   BENCH_ARGS=                 more stablepipe-bench arguments, for both
#   BENCH_SWEEP_FS="xfs ext4"   file systems of the sweep ("": none)
#   BENCH_SWEEP_SIZES=1M,4M,16M,64M,256M,1G
#   BENCH_SWEEP_METHODS=rw,splice,auto-sendfile,auto-splice-1m,copy-splice-1m,pipe-wr,dev-wr
#   BENCH_SWEEP_REPS=5
#   BENCH_WORKLOADS="matrix sweep debate buffers"   which parts run
#   BENCH_DEBATE_FS="xfs ext4"  file systems of the strategies' workloads
#   BENCH_DEBATE_SIZE=256M      their file size
#   BENCH_DEBATE_REPS=3
#   BENCH_SENDS=10              the hot source: sends of the file per run
#   BENCH_BUFFERS_FS="xfs ext4" file systems of diskbuffer/mbuffer/pv
#   BENCH_STREAM=1G             their stream
#   BENCH_SLOW_RATE=64M         the slow consumer's bytes per second
#   BENCH_BUFFER_MEM=1G         mbuffer -m, pv -B
#   BENCH_BUFFERS_REPS=3
#   BENCH_KTAP=1                stablepipe-bench --ktap on each file system first
#   BENCH_QUICK=1               a short run: 8M, 1 rep, sweep 1M..16M,
#                               strategies 8M, 1 rep, buffers 64M, 1 rep
#   BENCH_RESULTS=DIR           where the results go (default results/KVER)
#   STABLEPIPE_KVM=1            -accel kvm -cpu host instead of TCG
#   STABLEPIPE_CACHE=DIR        downloads and unpacked kernels
#   VM_APPEND="..."             extra kernel command line arguments
#
# Results (BENCH_RESULTS): bench.txt (the tables and the summary lines),
# bench.json ({"kernel", "runs": [one stablepipe-bench --json per file
# system and part]}), bench.csv (matrix, sweep, debate), buffers.csv,
# bench.svg (throughput per method and source), sweep.svg (seconds per
# GiB by size), strategies.svg (the three strategies per workload),
# buffers.svg (producer and consumer done, per tool),
# ktap.txt (the --ktap self-checks), proc-stablepipe.txt, dmesg.txt,
# console.log.  mbuffer and pv come from the host's Debian packages,
# copied into the initramfs with their libraries.
# Uses lib.sh, kernels.sh and initramfs.sh of the test harness; the VM
# runs bench-init.sh as its init. Serialize with other VM users:
#   flock /tmp/stablepipe-vm.lock make bench
# shellcheck source-path=SCRIPTDIR
set -eu -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd -P)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=kernels.sh
. "$HERE/kernels.sh"
# shellcheck source=initramfs.sh
. "$HERE/initramfs.sh"
# shellcheck source=report.sh
. "$HERE/report.sh"	# for KERNEL_REPORT

KERNEL=${KERNEL:-bookworm}
VM_MEM=${VM_MEM:-3072}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-5400}
BENCH_FS=${BENCH_FS:-xfs ext4 tmpfs}
BENCH_SIZE=${BENCH_SIZE:-64M}
BENCH_REPS=${BENCH_REPS:-5}
BENCH_METHODS=${BENCH_METHODS:-all}
BENCH_SOURCES=${BENCH_SOURCES:-all}
BENCH_ARGS=${BENCH_ARGS:-}
BENCH_SWEEP_FS=${BENCH_SWEEP_FS-xfs ext4}
BENCH_SWEEP_SIZES=${BENCH_SWEEP_SIZES:-1M,4M,16M,64M,256M,1G}
BENCH_SWEEP_METHODS=${BENCH_SWEEP_METHODS:-rw,splice,auto-sendfile,auto-splice-1m,copy-splice-1m,pipe-wr,dev-wr}
BENCH_SWEEP_REPS=${BENCH_SWEEP_REPS:-5}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-matrix sweep debate buffers}
BENCH_DEBATE_FS=${BENCH_DEBATE_FS-xfs ext4}
BENCH_DEBATE_SIZE=${BENCH_DEBATE_SIZE:-256M}
BENCH_DEBATE_REPS=${BENCH_DEBATE_REPS:-3}
BENCH_SENDS=${BENCH_SENDS:-10}
BENCH_BUFFERS_FS=${BENCH_BUFFERS_FS-xfs ext4}
BENCH_STREAM=${BENCH_STREAM:-1G}
BENCH_SLOW_RATE=${BENCH_SLOW_RATE:-64M}
BENCH_BUFFER_MEM=${BENCH_BUFFER_MEM:-1G}
BENCH_BUFFERS_REPS=${BENCH_BUFFERS_REPS:-3}
BENCH_KTAP=${BENCH_KTAP:-1}
BENCH_QUICK=${BENCH_QUICK:-0}
STABLEPIPE_KVM=${STABLEPIPE_KVM:-0}
CACHE=${STABLEPIPE_CACHE:-/var/cache/stablepipe}
VM_APPEND=${VM_APPEND:-}

HOST_PACKAGES=(qemu-system-x86 busybox-static xfsprogs e2fsprogs kmod cpio
	xz-utils zstd build-essential bc flex bison libelf-dev sparse
	linux-headers-amd64)
PLOT_PACKAGES=(gnuplot-nox)
# what users would pick instead of diskbuffer (BENCH_WORKLOADS buffers)
BUFFER_PACKAGES=(mbuffer pv)
# the methods of the three strategies (userspace/bench/strategies.c)
DEBATE_METHODS=splice,copy-splice-1m,auto-splice-1m,rw,tcp-sendfile,tcp-copy-splice,tcp-auto-splice,tcp-rw
# what the module is built from (as check.sh does)
MODULE_SOURCES=(Kbuild VERSION module uapi)

INITRAMFS_FILES=()
DRIVES=()
DISKS=
OUTDEV=

if [ "$BENCH_QUICK" = 1 ]; then
	BENCH_SIZE=8M BENCH_REPS=1 BENCH_SWEEP_SIZES=1M,4M,16M BENCH_SWEEP_REPS=1
	BENCH_DEBATE_SIZE=8M BENCH_DEBATE_REPS=1 BENCH_STREAM=64M
	BENCH_BUFFERS_REPS=1
fi
# wants WORKLOAD: whether BENCH_WORKLOADS has it
wants() {
	case " $BENCH_WORKLOADS " in *" $1 "*) return 0 ;; esac
	return 1
}
wants matrix || BENCH_FS=
wants sweep || BENCH_SWEEP_FS=
wants debate || BENCH_DEBATE_FS=
wants buffers || BENCH_BUFFERS_FS=

check_settings() {
	local v fs
	for v in VM_MEM BENCH_TIMEOUT BENCH_REPS BENCH_SWEEP_REPS \
		BENCH_DEBATE_REPS BENCH_SENDS BENCH_BUFFERS_REPS; do
		[[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a number"
	done
	for fs in $BENCH_FS $BENCH_SWEEP_FS $BENCH_DEBATE_FS $BENCH_BUFFERS_FS; do
		case $fs in
		xfs | ext4 | tmpfs) ;;
		*) die "unknown file system $fs (xfs, ext4, tmpfs)" ;;
		esac
	done
	for v in $BENCH_WORKLOADS; do
		case $v in
		matrix | sweep | debate | buffers) ;;
		*) die "unknown workload $v in BENCH_WORKLOADS (matrix sweep debate buffers)" ;;
		esac
	done
	[ -n "$BENCH_FS$BENCH_SWEEP_FS$BENCH_DEBATE_FS$BENCH_BUFFERS_FS" ] ||
		die "no file system to run on (BENCH_WORKLOADS, BENCH_*FS)"
}

# build_module: the module for KVER, from a copy of its sources in MODDIR
# (like check.sh, whose build this mirrors without its warning checks).
build_module() {
	local ko=$MODDIR/stablepipe.ko log=$BUILD/build.log vermagic
	say "building the module for $KVER in $MODDIR"
	rm -rf "$MODDIR"
	mkdir -p "$MODDIR"
	(cd "$REPO" && find "${MODULE_SOURCES[@]}" -type f ! -name '.*' \
		! -name '*.o' ! -name '*.ko' ! -name '*.mod' ! -name '*.mod.c' \
		! -name '*.a' ! -name '*.symvers' ! -name '*.order' \
		! -name '*.dwo' ! -name '*~' -print0 |
		xargs -0 -r cp --parents -t "$MODDIR")
	if ! "$KBUILD" ${KBUILD_ARG:+"$KBUILD_ARG"} >"$log" 2>&1; then
		tail -n 30 "$log"
		die "building the module for $KVER failed (log: $log)"
	fi
	[ -f "$ko" ] || die "the module build made no $ko"
	vermagic=$(modinfo -F vermagic "$ko")
	[ "${vermagic%% *}" = "$KVER" ] ||
		die "$ko is built for ${vermagic%% *}, not $KVER"
	INITRAMFS_FILES+=("$ko|stablepipe.ko")
}

# tree_state: TREE_STATE, which sources the numbers are of: the commit, and
# whether the module's or the benchmark's sources differ from it.
tree_state() {
	local head dirty
	head=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) || {
		TREE_STATE="not a git tree"
		return 0
	}
	dirty=$(git -C "$REPO" status --porcelain -- "${MODULE_SOURCES[@]}" \
		userspace/bench 2>/dev/null | awk '{ print $2 }' | tr '\n' ' ')
	TREE_STATE="git $head${dirty:+, uncommitted changes in: ${dirty% }}"
}

# build_bench: statically, into build/bench/bin (not userspace/, where
# README.md's install instructions would pick it up)
build_bench() {
	local out=$REPO/build/bench/bin bin=$REPO/build/bench/bin/stablepipe-bench
	say "building stablepipe-bench (static) in $out"
	make -s -C "$REPO/userspace" OUTPUT="$out" LDFLAGS=-static "$bin" ||
		die "building stablepipe-bench failed"
	[ -x "$bin" ] || die "no $bin"
	INITRAMFS_FILES+=("$bin|bench/stablepipe-bench" "$HERE/bench-init.sh|bench/init")
	[ -n "$BENCH_BUFFERS_FS" ] || return 0
	make -s -C "$REPO/userspace" LDFLAGS=-static diskbuffer ||
		die "building userspace/diskbuffer failed"
	INITRAMFS_FILES+=("$REPO/userspace/diskbuffer|bench/diskbuffer")
}

# buffer_tools: mbuffer and pv from the host's packages, with their
# libraries (copy_binary), into the VM's /bin; the VM's busybox has none.
buffer_tools() {
	local t lib
	[ -n "$BENCH_BUFFERS_FS" ] || return 0
	ensure_packages "${BUFFER_PACKAGES[@]}"
	for t in mbuffer pv; do
		INITRAMFS_FILES+=("$(command -v "$t")|bin/$t")
	done
	# glibc loads libgcc_s when a thread exits (mbuffer's do): not in ldd
	lib=$(ldconfig -p | awk '/libgcc_s\.so\.1 .*x86-64/ { print $NF; exit }')
	[ -n "$lib" ] || die "no libgcc_s.so.1 on the host (mbuffer needs it)"
	INITRAMFS_FILES+=("$lib|${lib#/}")
}

# make_disks: fresh sparse images: one per disk file system (room for the
# sweep's 1 GiB file) and one that receives the results as a tar archive.
make_disks() {
	local fs img letters=(a b c d e) i=0 seen=" "
	for fs in $BENCH_FS $BENCH_SWEEP_FS $BENCH_DEBATE_FS $BENCH_BUFFERS_FS; do
		case $seen in *" $fs "*) continue ;; esac
		seen="$seen$fs "
		[ "$fs" = tmpfs ] && continue
		img=$BUILD/$fs.img
		rm -f "$img"
		truncate -s 3G "$img"
		case $fs in
		xfs) mkfs.xfs -q -f "$img" ;;
		ext4) mkfs.ext4 -q -F "$img" ;;
		esac
		DRIVES+=(-drive "file=$img,if=virtio,format=raw")
		DISKS="$DISKS $fs:vd${letters[i]}"
		i=$((i + 1))
	done
	rm -f "$BUILD/results.img"
	truncate -s 256M "$BUILD/results.img"
	DRIVES+=(-drive "file=$BUILD/results.img,if=virtio,format=raw")
	OUTDEV=vd${letters[i]}
}

write_conf() {
	local common
	common="--reps $BENCH_REPS --methods $BENCH_METHODS --sources $BENCH_SOURCES"
	CONF=$BUILD/stablepipe.conf
	cat >"$CONF" <<-CONF
	DISKS='${DISKS# }'
	OUTDEV='$OUTDEV'
	FS='$BENCH_FS'
	KTAP='$BENCH_KTAP'
	MATRIX_ARGS='--size $BENCH_SIZE $common $BENCH_ARGS'
	SWEEP_FS='$BENCH_SWEEP_FS'
	SWEEP_ARGS='--size $BENCH_SWEEP_SIZES --reps $BENCH_SWEEP_REPS --methods $BENCH_SWEEP_METHODS --sources warm,mem $BENCH_ARGS'
	DEBATE_FS='$BENCH_DEBATE_FS'
	DEBATE_ARGS='--size $BENCH_DEBATE_SIZE --reps $BENCH_DEBATE_REPS --sends $BENCH_SENDS --methods $DEBATE_METHODS --sources warm,cold,hot $BENCH_ARGS'
	BUFFERS_FS='$BENCH_BUFFERS_FS'
	BUFFERS_ARGS='--buffers all --stream $BENCH_STREAM --slow-rate $BENCH_SLOW_RATE --buffer-mem $BENCH_BUFFER_MEM --reps $BENCH_BUFFERS_REPS'
	CONF
}

boot_vm() {
	local accel=(-accel tcg -cpu max) rc=0 start=$SECONDS
	[ "$STABLEPIPE_KVM" = 1 ] && accel=(-accel kvm -cpu host)
	say "booting $KVER (${accel[*]}, ${VM_MEM} MiB, timeout ${BENCH_TIMEOUT}s)"
	timeout --foreground -k 10 "$BENCH_TIMEOUT" qemu-system-x86_64 "${accel[@]}" \
		-smp 2 -m "$VM_MEM" -no-reboot -nic none -monitor none \
		-display none -vga none -serial stdio \
		-kernel "$KIMAGE" \
		-initrd "$BUILD/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 printk.time=1 loglevel=4 rdinit=/bench/init $VM_APPEND" \
		"${DRIVES[@]}" </dev/null 2>&1 | tee "$BUILD/console.log" || rc=$?
	case $rc in
	0) ;;
	124 | 137) warn "the VM timed out after ${BENCH_TIMEOUT}s" ;;
	*) warn "qemu exited with status $rc" ;;
	esac
	say "the VM ran for $((SECONDS - start))s"
}

# collect: unpack the results disk into RESULTS and put the pieces together.
collect() {
	local d=$RESULTS/raw f first=1 name
	rm -rf "$RESULTS"
	mkdir -p "$d"
	cp "$BUILD/console.log" "$RESULTS/console.log"
	tar -xf "$BUILD/results.img" -C "$d" 2>/dev/null ||
		die "no results from the VM (see $RESULTS/console.log)"
	[ -f "$d/kernel" ] || die "the VM wrote no results (see $RESULTS/console.log)"
	cp "$d/proc-stablepipe.txt" "$d/dmesg.txt" "$RESULTS/" 2>/dev/null || true
	: >"$RESULTS/ktap.txt"
	for f in "$d"/ktap-*.txt; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .txt)
		{
			echo "# ${name#ktap-}: stablepipe-bench --ktap (exit $(cat "$d/$name.rc"))"
			cat "$f"
		} >>"$RESULTS/ktap.txt"
	done
	{
		echo "stablepipe-bench in a QEMU VM, kernel $(cat "$d/kernel"), $(
			[ "$STABLEPIPE_KVM" = 1 ] && echo KVM || echo "TCG: only ratios within a run mean anything")"
		echo "module and tools: $TREE_STATE"
		echo
		for f in "$d"/matrix-*.txt "$d"/sweep-*.txt "$d"/debate-*.txt \
			"$d"/buffers-*.txt; do
			[ -f "$f" ] || continue
			echo "==== $(basename "$f" .txt) ===="
			cat "$f"
			echo
		done
		echo "==== summary ===="
		grep -hE ': (target [0-9]|steal vs copy|strategies)' "$d"/matrix-*.txt \
			"$d"/sweep-*.txt "$d"/debate-*.txt "$d"/buffers-*.txt \
			2>/dev/null || true
	} >"$RESULTS/bench.txt"
	{
		printf '{\n"kernel": "%s",\n"accel": "%s",\n"tree": "%s",\n"runs": [\n' \
			"$(cat "$d/kernel")" \
			"$([ "$STABLEPIPE_KVM" = 1 ] && echo kvm || echo tcg)" \
			"${TREE_STATE//\"/}"
		for f in "$d"/matrix-*.json "$d"/sweep-*.json "$d"/debate-*.json \
			"$d"/buffers-*.json; do
			[ -s "$f" ] || continue
			[ $first = 1 ] || printf ',\n'
			first=0
			printf '{"name": "%s", "result":\n' "$(basename "$f" .json)"
			cat "$f"
			printf '}'
		done
		printf '\n]\n}\n'
	} >"$RESULTS/bench.json"
	first=1
	for f in "$d"/matrix-*.csv "$d"/sweep-*.csv "$d"/debate-*.csv; do
		[ -s "$f" ] || continue
		if [ $first = 1 ]; then
			sed -n '1s/^/run,/p' "$f"
			first=0
		fi
		sed "1d; s/^/$(basename "$f" .csv),/" "$f"
	done >"$RESULTS/bench.csv"
	# --buffers has columns of its own
	first=1
	for f in "$d"/buffers-*.csv; do
		[ -s "$f" ] || continue
		if [ $first = 1 ]; then
			sed -n 1p "$f"
			first=0
		fi
		sed 1d "$f"
	done >"$RESULTS/buffers.csv"
}

# plot: bench.svg, MiB/s per method (clusters: the sources), one panel per
# file system of the matrix; sweep.svg, seconds per GiB against the size.
plot() {
	local csv=$RESULTS/bench.csv dat=$RESULTS/plot gp fs n=0 panels
	if ! command -v gnuplot >/dev/null; then
		(ensure_packages "${PLOT_PACKAGES[@]}") || true
	fi
	command -v gnuplot >/dev/null || {
		warn "no gnuplot (apt-get install gnuplot-nox): no plots"
		return 0
	}
	mkdir -p "$dat"
	for fs in $BENCH_FS; do
		# method, then MiB/s median, min, max for warm, cold, mapped,
		# mem ("-": none)
		awk -F, -v run="matrix-$fs" '
		NR == 1 { next }
		$1 == run && $16 == "ok" {
			if (!($5 in seen)) { seen[$5] = 1; order[++n] = $5 }
			v[$5, $4] = $6 " " $7 " " $8
		}
		END {
			split("warm cold mapped mem", s, " ")
			line = "method"
			for (k = 1; k <= 4; k++)
				line = line " " s[k] " " s[k] "_min " s[k] "_max"
			print line
			for (i = 1; i <= n; i++) {
				m = order[i]; line = m
				for (k = 1; k <= 4; k++)
					line = line " " ((m, s[k]) in v ? v[m, s[k]] : "- - -")
				print line
			}
		}' "$csv" >"$dat/matrix-$fs.dat"
		n=$((n + 1))
	done
	panels=$n
	gp=$dat/bench.gp
	{
		echo "set terminal svg size 1200,$((360 * (panels > 0 ? panels : 1))) dynamic font 'sans,11'"
		echo "set output '$RESULTS/bench.svg'"
		echo "set datafile missing '-'"
		echo "set style data histograms"
		echo "set style histogram errorbars gap 1 lw 1"
		echo "set style fill solid 0.8 border -1"
		echo "set boxwidth 0.9"
		echo "set key top right"
		echo "set grid ytics"
		echo "set xtics rotate by -35 scale 0"
		echo "set ylabel 'MiB/s (median; bars: min to max)'"
		echo "set yrange [0:*]"
		echo "set multiplot layout $panels,1"
		for fs in $BENCH_FS; do
			echo "set title 'stablepipe-bench $BENCH_SIZE, $fs, kernel $KVER ($([ "$STABLEPIPE_KVM" = 1 ] && echo KVM || echo 'TCG: compare ratios only'))'"
			echo "plot for [i=0:3] '$dat/matrix-$fs.dat' using 2+3*i:3+3*i:4+3*i:xtic(1) title columnheader(2+3*i)"
		done
		echo "unset multiplot"
	} >"$gp"
	[ "$panels" -gt 0 ] && { gnuplot "$gp" || warn "gnuplot failed on $gp"; }
	[ -n "$BENCH_SWEEP_FS" ] || return 0
	# sweep: size, then seconds per GiB of each method (warm or mem), of
	# the fastest run (as target 4 is judged)
	for fs in $BENCH_SWEEP_FS; do
		awk -F, -v run="sweep-$fs" '
		NR == 1 { next }
		$1 == run && $16 == "ok" && $8 > 0 {
			if (!($5 in seen)) { seen[$5] = 1; order[++n] = $5 }
			if (!($3 in sz)) { sz[$3] = 1; sizes[++ns] = $3 }
			v[$5, $3] = 1024 / $8
		}
		END {
			line = "size"
			for (i = 1; i <= n; i++) line = line " " order[i]
			print line
			for (j = 2; j <= ns; j++)	# sizes in increasing order
				for (k = j; k > 1 && sizes[k] + 0 < sizes[k - 1] + 0; k--) {
					t = sizes[k]; sizes[k] = sizes[k - 1]; sizes[k - 1] = t
				}
			for (j = 1; j <= ns; j++) {
				line = sizes[j] / 1048576
				for (i = 1; i <= n; i++)
					line = line " " ((order[i], sizes[j]) in v ? v[order[i], sizes[j]] : "-")
				print line
			}
		}' "$csv" >"$dat/sweep-$fs.dat"
	done
	gp=$dat/sweep.gp
	{
		echo "set terminal svg size 1200,$((420 * $(wc -w <<<"$BENCH_SWEEP_FS"))) dynamic font 'sans,11'"
		echo "set output '$RESULTS/sweep.svg'"
		echo "set datafile missing '-'"
		echo "set logscale x 2"
		echo "set xlabel 'file size, MiB'"
		echo "set ylabel 'seconds per GiB (fastest run)'"
		echo "set yrange [0:*]"
		echo "set grid"
		echo "set key outside right"
		echo "set multiplot layout $(wc -w <<<"$BENCH_SWEEP_FS"),1"
		for fs in $BENCH_SWEEP_FS; do
			echo "set title 'cost by size (target 4: flat lines), $fs, kernel $KVER'"
			echo "plot for [i=2:*] '$dat/sweep-$fs.dat' using 1:i with linespoints title columnheader(i)"
		done
		echo "unset multiplot"
	} >"$gp"
	gnuplot "$gp" || warn "gnuplot failed on $gp"
}

# plot_strategies: strategies.svg, MiB/s of the three strategies (and
# read+write) per workload, one panel per file system of BENCH_DEBATE_FS.
plot_strategies() {
	local csv=$RESULTS/bench.csv dat=$RESULTS/plot gp fs n
	n=$(wc -w <<<"$BENCH_DEBATE_FS")
	[ "$n" -gt 0 ] && command -v gnuplot >/dev/null || return 0
	mkdir -p "$dat"
	for fs in $BENCH_DEBATE_FS; do
		awk -F, -v run="debate-$fs" '
		BEGIN {
			split("splice copy-splice-1m auto-splice-1m rw", m, " ")
			split("tcp-sendfile tcp-copy-splice tcp-auto-splice tcp-rw", t, " ")
			for (k = 1; k <= 4; k++) { col[m[k]] = k; con[m[k]] = "pipe"
				col[t[k]] = k; con[t[k]] = "tcp" }
		}
		NR == 1 { next }
		$1 == run && $16 == "ok" && ($5 in col) {
			w = con[$5] "," $4
			if (!(w in seen)) { seen[w] = 1; order[++n] = w }
			v[w, col[$5]] = $6 " " $7 " " $8
		}
		END {
			print "workload reference r_min r_max copy_always c_min c_max steal_or_copy a_min a_max read+write w_min w_max"
			for (i = 1; i <= n; i++) {
				line = order[i]
				for (k = 1; k <= 4; k++)
					line = line " " ((order[i], k) in v ? v[order[i], k] : "- - -")
				print line
			}
		}' "$csv" >"$dat/strategies-$fs.dat"
	done
	gp=$dat/strategies.gp
	{
		echo "set terminal svg size 1200,$((380 * n)) dynamic font 'sans,11'"
		echo "set output '$RESULTS/strategies.svg'"
		echo "set datafile missing '-'"
		echo "set style data histograms"
		echo "set style histogram errorbars gap 1 lw 1"
		echo "set style fill solid 0.8 border -1"
		echo "set key top right"
		echo "set grid ytics"
		echo "set ylabel 'MiB/s (median; bars: min to max)'"
		echo "set yrange [0:*]"
		echo "set multiplot layout $n,1"
		for fs in $BENCH_DEBATE_FS; do
			echo "set title 'the three strategies, $BENCH_DEBATE_SIZE file (hot: sends 2 to $BENCH_SENDS), $fs, kernel $KVER ($([ "$STABLEPIPE_KVM" = 1 ] && echo KVM || echo 'TCG: compare ratios only'))'"
			echo "plot for [i=0:3] '$dat/strategies-$fs.dat' using 2+3*i:3+3*i:4+3*i:xtic(1) title columnheader(2+3*i)"
		done
		echo "unset multiplot"
	} >"$gp"
	gnuplot "$gp" || warn "gnuplot failed on $gp"
}

# plot_buffers: buffers.svg, seconds until the producer was done and until
# the consumer had it all, per tool and consumer; a panel per file system.
plot_buffers() {
	local csv=$RESULTS/buffers.csv dat=$RESULTS/plot gp fs n
	n=$(wc -w <<<"$BENCH_BUFFERS_FS")
	[ "$n" -gt 0 ] && [ -s "$csv" ] && command -v gnuplot >/dev/null || return 0
	mkdir -p "$dat"
	for fs in $BENCH_BUFFERS_FS; do
		awk -F, -v fs="$fs" 'NR == 1 { print "run producer end"; next }
		$1 == fs && $11 == "ok" { print $3 "," $4, $6, $7 }' \
			"$csv" >"$dat/buffers-$fs.dat"
	done
	gp=$dat/buffers.gp
	{
		echo "set terminal svg size 1000,$((340 * n)) dynamic font 'sans,11'"
		echo "set output '$RESULTS/buffers.svg'"
		echo "set style data histograms"
		echo "set style histogram clustered gap 1"
		echo "set style fill solid 0.8 border -1"
		echo "set key top left"
		echo "set grid ytics"
		echo "set ylabel 'seconds (median)'"
		echo "set yrange [0:*]"
		echo "set multiplot layout $n,1"
		for fs in $BENCH_BUFFERS_FS; do
			echo "set title '$BENCH_STREAM stream through each tool, fast and slow ($BENCH_SLOW_RATE/s) consumer, $fs, kernel $KVER'"
			echo "plot '$dat/buffers-$fs.dat' using 2:xtic(1) title 'producer done', '' using 3 title 'consumer done'"
		done
		echo "unset multiplot"
	} >"$gp"
	gnuplot "$gp" || warn "gnuplot failed on $gp"
}

main() {
	local reports
	[ $# -eq 0 ] || {
		sed -n '/^# usage:/,/^# Results/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
	}
	check_settings
	ensure_packages "${HOST_PACKAGES[@]}"
	kernel_select "$KERNEL"
	BUILD=$REPO/build/bench/$KVER
	MODDIR=$BUILD/module
	RESULTS=${BENCH_RESULTS:-$REPO/results/$KVER}
	mkdir -p "$BUILD"
	tree_state
	build_module
	build_bench
	buffer_tools
	make_disks
	write_conf
	say "building the initramfs"
	initramfs_build "$BUILD/initramfs.cpio.gz" "$BUILD/initramfs"
	boot_vm
	grep -q '^STABLEPIPE-BENCH-DONE' "$BUILD/console.log" ||
		warn "the VM did not finish: the results may be incomplete"
	reports=$(tr -d '\r' <"$BUILD/console.log" | grep -E "$KERNEL_REPORT" || true)
	collect
	plot
	plot_strategies
	plot_buffers
	echo
	cat "$RESULTS/bench.txt"
	echo
	say "results in $RESULTS: bench.txt bench.json bench.csv $(
		[ -f "$RESULTS/bench.svg" ] && echo bench.svg) $(
		[ -f "$RESULTS/sweep.svg" ] && echo sweep.svg) $(
		[ -f "$RESULTS/strategies.svg" ] && echo strategies.svg) $(
		[ -s "$RESULTS/buffers.csv" ] && echo buffers.csv) $(
		[ -f "$RESULTS/buffers.svg" ] && echo buffers.svg) ktap.txt console.log"
	if [ -n "$reports" ]; then
		printf '%s\n' "$reports"
		warn "kernel reports on the console (above; $RESULTS/console.log)"
		return 1
	fi
	if grep -q '^not ok' "$RESULTS/ktap.txt" ||
		grep -qv '^0$' "$RESULTS"/raw/*.rc 2>/dev/null; then
		warn "a self-check or a run failed: see $RESULTS/ktap.txt and $RESULTS/raw/*.log"
		return 1
	fi
}

main "$@"
