#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stablepipe VM test harness: `make check` runs this, `make demo` runs it
# with --demo, `make check-all` with --all. It builds the module (W=1 C=1)
# and the selftests, boots a Debian kernel under QEMU (TCG) with a busybox
# initramfs, runs the tests there on XFS, ext4 and tmpfs (those whose
# result depends on the filesystem on each, the others on the first: see
# FS_TESTS in selftests/Makefile), and sums up. The
# very last line is "N passed, N failed"; the exit status is 0 only if
# nothing failed.
#
# usage: selftests/vm/check.sh [--demo | --all | --dkms | --signing]
#   --demo  boot the VM and run userspace/demo.sh instead of the tests, on
#           XFS; the terminal gets a line per step, the demo's text and a
#           summary (demo-view.sh), the rest goes to build/demo/demo.log
#   --all   the tests on every kernel of kernels.conf (or KERNELS), one
#           after the other, then one summary; the last line totals them
#   --dkms  the tests with the module that DKMS built and installed
#           (`make dkms-test` keeps it as build/dkms/KVER/stablepipe.ko)
#           instead of one built here: what users of the .deb and of
#           `make dkms-install` load
#   --signing  Secure Boot: on the debug kernel, which trusts a test key,
#           under lockdown and then module.sig_enforce, the module that
#           DKMS built and signed with that key loads and unsigned or
#           wrongly signed copies are refused (signing.sh, signing-vm.sh)
#
# Settings (environment):
#   KERNEL=bookworm       which kernel to boot: a name from kernels.conf
#   KERNELS="bookworm sid"  with --all: only these kernels (default: all)
#   VM_MEM=1024           VM memory, MiB
#   VM_TIMEOUT=1200       seconds before the whole VM run is killed
#   BOOT_TIMEOUT=300      seconds for the kernel to start /init: a VM that
#                         has not by then is killed and booted once more
#                         (the debug kernel once hung in its boot, before
#                         any test or the module, under TCG)
#   TEST_TIMEOUT=600      seconds one test program may run (0: no limit;
#                         default: timeout= in selftests/settings, or 600)
#   TESTS="prog1 prog2"   run only these test programs (default: all that
#                         `make -C selftests list-tests` prints)
#   FS="xfs ext4 tmpfs"   run the tests on these filesystems, in this order:
#                         `make -C selftests list-fs-tests` on each, the
#                         others on the first only
#   TOOLS_FS="xfs"        the userspace tools' tests (list-tools-tests)
#                         only on these of FS (default: all of FS)
#   ALL_FS=1              every test on every filesystem of FS
#   VM_OUT=DIR            where the run's files go (default build/vm;
#                         --dkms: build/vm-dkms; --signing:
#                         build/vm-signing): DIR/KVER/...
#   STABLEPIPE_NO_STEAL=1 build the module as for a kernel without
#                         ->try_steal: it copies everything (Kbuild)
#   STABLEPIPE_KVM=1      use KVM (-accel kvm -cpu host) instead of TCG
#   STABLEPIPE_CACHE=DIR  downloads and unpacked kernels
#                         (default /var/cache/stablepipe)
#   VM_APPEND="..."       extra kernel command line arguments
#   STABLEPIPE_MIRROR=URL the Debian mirror for other suites' kernels and
#                         build chroots (default: the host's, from its apt
#                         sources)
#
# Needs Debian 12 (bookworm) with apt; missing host packages are installed
# (that, and the first download of a kernel, need root and the network).
# Output goes to build/vm/KVER/ (--demo: build/demo/KVER/): build.log (the
# module's build), module/ (where it is built), console.log (the whole
# serial console), results.log (what the tests printed: the results are
# counted from it); with --all also build/vm/check-NAME.log (each kernel's
# whole output).  The test programs are built in build/selftests/, the
# demo's in build/demo/bin/: never in the source tree.
# Files: kernels.conf (the kernels), kernels.sh (fetching them, building
# the module), checker-valid.sh (for C=1 on 7.x kernels), initramfs.sh,
# init.sh (/init in the VM), lifecycle.sh (module life cycle tests, in the
# VM), report.sh (counting the results), signing.sh and signing-vm.sh
# (--signing), lib.sh.
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
. "$HERE/report.sh"
# shellcheck source=demo-view.sh
. "$HERE/demo-view.sh"
# shellcheck source=signing.sh
. "$HERE/signing.sh"

KERNEL=${KERNEL:-bookworm}
VM_MEM=${VM_MEM:-1024}
VM_TIMEOUT=${VM_TIMEOUT:-1200}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
# default: kselftest's selftests/settings "timeout=N", else 600
TEST_TIMEOUT=${TEST_TIMEOUT:-$(sed -n 's/^timeout=\([0-9]*\)$/\1/p' \
	"$REPO/selftests/settings" 2>/dev/null | grep . || echo 600)}
TESTS=${TESTS:-}
FS=${FS:-xfs ext4 tmpfs}
TOOLS_FS=${TOOLS_FS:-$FS}
ALL_FS=${ALL_FS:-0}
VM_OUT=${VM_OUT:-}
STABLEPIPE_KVM=${STABLEPIPE_KVM:-0}
CACHE=${STABLEPIPE_CACHE:-/var/cache/stablepipe}
VM_APPEND=${VM_APPEND:-}
# the test programs, statically linked (make -C selftests OUTPUT=)
SELFTESTS_OUT=$REPO/build/selftests
# --demo: the demo's programs (make -C userspace OUTPUT=)
DEMO_BIN=$REPO/build/demo/bin

HOST_PACKAGES=(qemu-system-x86 busybox-static xfsprogs e2fsprogs kmod cpio
	xz-utils zstd build-essential bc flex bison libelf-dev sparse
	linux-headers-amd64)
# What the module is built from (Kbuild and what it refers to): copied to
# build/vm/KVER/module and built there, so that every kernel gets its own
# objects and the tree's own build (make, make module) is left alone.
MODULE_SOURCES=(Kbuild VERSION module uapi)

MODE=check
DKMS_KO=
FS_TESTS=() TOOLS_TESTS=()
EXTRA_PASS=0 EXTRA_FAIL=0 EXTRA_FAILURES=
INITRAMFS_FILES=()
SELECTED=()
DRIVES=()
DISKS=

usage() {
	sed -n '/^# usage:/,/^# Needs/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

check_settings() {
	local v fs seen=" "
	for v in VM_MEM VM_TIMEOUT BOOT_TIMEOUT TEST_TIMEOUT; do
		[[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a number"
	done
	[ -n "$FS" ] || die "FS is empty"
	for fs in $FS; do
		case $fs in
		xfs | ext4 | tmpfs) ;;
		*) die "FS: unknown filesystem $fs (xfs, ext4, tmpfs)" ;;
		esac
		case $seen in *" $fs "*) die "FS: $fs twice" ;; esac
		seen="$seen$fs "
	done
	for fs in $TOOLS_FS; do
		case $seen in *" $fs "*) ;; *) die "TOOLS_FS: $fs is not in FS ($FS)" ;; esac
	done
}

extra_fail() {
	EXTRA_FAIL=$((EXTRA_FAIL + 1))
	EXTRA_FAILURES="$EXTRA_FAILURES  $*
"
}

# module_source_files: the files of MODULE_SOURCES in the tree, without
# build products, relative to the tree.
module_source_files() {
	(cd "$REPO" && find "${MODULE_SOURCES[@]}" -type f ! -name '.*' \
		! -name '*.o' ! -name '*.ko' ! -name '*.mod' ! -name '*.mod.c' \
		! -name '*.a' ! -name '*.symvers' ! -name '*.order' \
		! -name '*.dwo' ! -name '*~' | LC_ALL=C sort)
}

# build_module: build the module from scratch in MODDIR with the kernel's
# build function (kernels.sh), W=1 C=1, into BUILD/build.log. The build
# must succeed and be for KVER; host-side results: sparse ran, and the
# module's own files drew no warnings.
build_module() {
	local ko=$MODDIR/stablepipe.ko log=$BUILD/build.log vermagic ours steal want
	say "building the module for $KVER in $MODDIR ($KBUILD${KBUILD_ARG:+ $KBUILD_ARG}, W=1 C=1)"
	rm -rf "$MODDIR"
	mkdir -p "$MODDIR"
	module_source_files | (cd "$REPO" && xargs -r -d '\n' cp --parents -t "$MODDIR")
	if ! "$KBUILD" ${KBUILD_ARG:+"$KBUILD_ARG"} 2>&1 | tee "$log"; then
		die "building the module for $KVER failed (log: $log)"
	fi
	[ -f "$ko" ] || die "the module build made no $ko"
	vermagic=$(modinfo -F vermagic "$ko")
	[ "${vermagic%% *}" = "$KVER" ] ||
		die "$ko is built for ${vermagic%% *}, not $KVER"
	say "$ko: vermagic $vermagic"
	# C=1: kbuild prints "CHECK file" for each file sparse checks
	if grep -qE '^ +CHECK +' "$log"; then
		EXTRA_PASS=$((EXTRA_PASS + 1))
	else
		extra_fail "C=1: sparse did not run on the module for $KVER (log: $log)"
	fi
	# Kbuild's probe for ->try_steal (module/compat.h): found on every
	# kernel we test, unless STABLEPIPE_NO_STEAL=1 asks for the variant
	# without it
	steal=yes want=yes
	grep -q -- '-DSP_HAVE_TRY_STEAL' "$MODDIR/module/.ingest.o.cmd" || steal=no
	[ "${STABLEPIPE_NO_STEAL:-0}" = 1 ] && want=no
	say "stealing compiled in: $steal"
	if [ $steal = $want ]; then
		EXTRA_PASS=$((EXTRA_PASS + 1))
	else
		extra_fail "the module for $KVER was built with stealing: $steal, wanted $want (Kbuild's probe)"
	fi
	ours=$(awk -v d="$MODDIR/" '
		{ l = $0; if (index(l, d) == 1) l = substr(l, length(d) + 1) }
		l ~ /^(module|uapi)\/[^ :]*:[0-9]+(:[0-9]+)?: (warning|error)/ ||
		l ~ /^WARNING: modpost: .*stablepipe/' "$log")
	if [ -n "$ours" ]; then
		extra_fail "W=1 C=1: $(wc -l <<<"$ours") warning(s) in the module for $KVER (log: $log):"
		EXTRA_FAILURES="$EXTRA_FAILURES    ${ours//$'\n'/$'\n'    }
"
	else
		EXTRA_PASS=$((EXTRA_PASS + 1))
	fi
	INITRAMFS_FILES+=("$ko|stablepipe.ko")
}

# use_dkms_module: the module of `make dkms-test` instead of build_module.
# It must exist and be built for KVER.
use_dkms_module() {
	local ko=$REPO/build/dkms/$KVER/stablepipe.ko vermagic
	[ -f "$ko" ] || die "no $ko: run make dkms-test first"
	vermagic=$(modinfo -F vermagic "$ko")
	[ "${vermagic%% *}" = "$KVER" ] ||
		die "$ko is built for ${vermagic%% *}, not $KVER"
	say "the DKMS-built module: $ko (vermagic $vermagic, srcversion $(modinfo -F srcversion "$ko"))"
	DKMS_KO=$ko
	INITRAMFS_FILES+=("$ko|stablepipe.ko")
}

# check_dkms_loaded: with --dkms the initramfs carries DKMS_KO as its only
# stablepipe.ko.  The srcversion (a hash of the module's sources) that the
# VM reported for the loaded module must be DKMS_KO's: a module built from
# other sources, or none, fails.
check_dkms_loaded() {
	local want got
	[ -n "$DKMS_KO" ] || return 0
	want=$(modinfo -F srcversion "$DKMS_KO")
	got=$(tr -d '\r' <"$RESULTS_LOG" | sed -n 's/^# loaded srcversion: //p' | head -n1)
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		say "the VM ran the DKMS-built module (srcversion $got)"
		EXTRA_PASS=$((EXTRA_PASS + 1))
	else
		extra_fail "--dkms: the VM loaded srcversion '${got}', the DKMS-built module is '${want}'"
	fi
}

# build_selftests: build the test programs statically into SELFTESTS_OUT
# (build/selftests, with the test scripts: `make -C selftests OUTPUT=`);
# select those that `make list-tests` prints (filtered by TESTS). One build
# at a time: runs of check.sh for other kernels (make test runs two at
# once) share that directory, and hold its lock while they build.
build_selftests() {
	local dir=$REPO/selftests out=$SELFTESTS_OUT list t all=()
	if [ ! -f "$dir/Makefile" ]; then
		warn "no selftests/Makefile: no test programs"
		return 0
	fi
	say "building the selftests in $out"
	mkdir -p "$out"
	flock "$out/.build.lock" make -C "$dir" OUTPUT="$out" LDFLAGS=-static all ||
		die "building the selftests failed"
	mapfile -t FS_TESTS < <(make -s --no-print-directory -C "$dir" list-fs-tests)
	mapfile -t TOOLS_TESTS < <(make -s --no-print-directory -C "$dir" list-tools-tests)
	if ! list=$(make -s --no-print-directory -C "$dir" list-tests); then
		warn "make -C selftests list-tests failed: no test programs"
		return 0
	fi
	for t in $list; do
		[[ $t =~ ^[A-Za-z0-9_.+/-]+$ ]] || die "list-tests: odd name '$t'"
		[ -x "$out/$t" ] || die "list-tests names $t, but there is no $out/$t"
		all+=("$t")
	done
	if [ -n "$TESTS" ]; then
		for t in $TESTS; do
			[[ " ${all[*]} " == *" $t "* ]] ||
				die "TESTS: no test program $t (there are: ${all[*]})"
			SELECTED+=("$t")
		done
	else
		SELECTED=("${all[@]}")
	fi
	for t in "${SELECTED[@]}"; do
		INITRAMFS_FILES+=("$out/$t|selftests/$t")
	done
	# helper files the tests run (make -s -C selftests list-files), next to them
	for t in $(make -s --no-print-directory -C "$dir" list-files 2>/dev/null); do
		INITRAMFS_FILES+=("$out/$t|selftests/$t")
	done
}

# build_demo: userspace/demo.sh becomes /demo/run.sh, with the programs
# that `make -C userspace list-demo-bins` prints next to it in /demo,
# built statically into DEMO_BIN (not userspace/, where README.md's
# install instructions would pick them up).
build_demo() {
	local dir=$REPO/userspace list b
	if [ ! -f "$dir/demo.sh" ]; then
		warn "no userspace/demo.sh: the demo only loads the module"
		return 0
	fi
	INITRAMFS_FILES+=("$dir/demo.sh|demo/run.sh")
	[ -f "$dir/Makefile" ] || return 0
	say "building the demo's programs in $DEMO_BIN"
	make -C "$dir" OUTPUT="$DEMO_BIN" LDFLAGS=-static demo-bins ||
		die "building the demo's programs failed"
	if ! list=$(make -s --no-print-directory -C "$dir" list-demo-bins); then
		warn "make -C userspace list-demo-bins failed: no programs for the demo"
		return 0
	fi
	for b in $list; do
		[ -x "$DEMO_BIN/$b" ] || die "list-demo-bins names $b, but there is no $DEMO_BIN/$b"
		INITRAMFS_FILES+=("$DEMO_BIN/$b|demo/$(basename "$b")")
	done
}

# make_disks: a fresh 1 GiB sparse scratch image per disk filesystem in FS.
make_disks() {
	local fs img letters=(a b c d) i=0
	for fs in $FS; do
		img=$BUILD/$fs.img
		case $fs in
		tmpfs) continue ;;
		esac
		rm -f "$img"
		truncate -s 1G "$img"
		case $fs in
		xfs) mkfs.xfs -q -f "$img" ;;
		ext4) mkfs.ext4 -q -F "$img" ;;
		esac
		DRIVES+=(-drive "file=$img,if=virtio,format=raw")
		DISKS="$DISKS $fs:vd${letters[i]}"
		i=$((i + 1))
	done
}

# fs_tests FS FIRST: the programs of SELECTED to run on FS, FIRST=1 for
# the first filesystem: every program there; on the others only those of
# FS_TESTS (all with ALL_FS=1), and the tools' tests only on TOOLS_FS.
fs_tests() {
	local fs=$1 first=$2 t out=()
	for t in "${SELECTED[@]}"; do
		if [[ " ${TOOLS_TESTS[*]} " == *" $t "* ]] &&
			[[ " $TOOLS_FS " != *" $fs "* ]]; then
			continue
		fi
		if [ "$first" = 1 ] || [ "$ALL_FS" = 1 ] ||
			[[ " ${FS_TESTS[*]} " == *" $t "* ]]; then
			out+=("$t")
		fi
	done
	printf '%s\n' "${out[*]}"
}

write_conf() {
	local fs first=1
	CONF=$BUILD/stablepipe.conf
	cat >"$CONF" <<-CONF
	MODE=$MODE
	DISKS='${DISKS# }'
	FS='$FS'
	TEST_TIMEOUT=$TEST_TIMEOUT
	CONF
	for fs in $FS; do
		printf "TESTS_%s='%s'\n" "$fs" "$(fs_tests "$fs" $first)" >>"$CONF"
		first=0
	done
}

boot_vm() {
	local try
	for try in 1 2; do
		boot_once && return 0
		[ "$try" = 1 ] || break
		cp "$CONSOLE_LOG" "$CONSOLE_LOG.no-init"
		warn "the VM did not start /init within ${BOOT_TIMEOUT}s (console: $CONSOLE_LOG.no-init): killed it; booting once more"
	done
	warn "the VM did not start /init within ${BOOT_TIMEOUT}s, twice"
}

# boot_once: boot the VM and wait until it powers off; false (with the VM
# killed) if the kernel has not started /init, whose first line on the
# console is "init: kernel ...", within BOOT_TIMEOUT seconds.
# The console (ttyS0, the kernel's messages at loglevel 7: report.sh looks
# for BUG, WARNING and the like there) is shown and kept in CONSOLE_LOG;
# the results channel (ttyS1) goes to RESULTS_LOG.  --demo: the console
# only to its file, and the demo's own text (ttyS2, see init.sh) to the
# terminal.
boot_once() {
	local accel=(-accel tcg -cpu max) rc=0 start=$SECONDS vm
	local serial=(-serial stdio -serial "file:$RESULTS_LOG") show=(tee "$CONSOLE_LOG")
	[ "$STABLEPIPE_KVM" = 1 ] && accel=(-accel kvm -cpu host)
	if [ "$MODE" = demo ]; then
		serial=(-serial "file:$CONSOLE_LOG" -serial "file:$RESULTS_LOG" -serial stdio)
		show=(demo_show)
	fi
	: >"$RESULTS_LOG"
	: >"$CONSOLE_LOG"
	say "booting $KVER (${accel[*]}, timeout ${VM_TIMEOUT}s)"
	[ "$MODE" != demo ] ||
		step_start "booting Linux $KVER in QEMU (${accel[1]})"
	{
		timeout --foreground -k 10 "$VM_TIMEOUT" qemu-system-x86_64 \
			"${accel[@]}" -smp 2 -m "$VM_MEM" -no-reboot -nic none \
			-monitor none -display none -vga none \
			"${serial[@]}" \
			-kernel "$KIMAGE" \
			-initrd "$BUILD/initramfs.cpio.gz" \
			-append "console=ttyS0 panic=-1 printk.time=1 loglevel=7 $VM_APPEND" \
			"${DRIVES[@]}" </dev/null 2>&1 | "${show[@]}"
	} &
	vm=$!
	while ! grep -q 'init: kernel ' "$CONSOLE_LOG" && kill -0 "$vm" 2>/dev/null; do
		if [ $((SECONDS - start)) -ge "$BOOT_TIMEOUT" ]; then
			pkill -KILL -f -- "initrd $BUILD/initramfs.cpio.gz"
			wait "$vm"
			TICKER=	# demo_show ended the step
			return 1
		fi
		sleep 2
	done
	wait "$vm" || rc=$?
	TICKER=
	case $rc in
	0) ;;
	124 | 137) warn "the VM timed out after ${VM_TIMEOUT}s" ;;
	*) warn "qemu exited with status $rc" ;;
	esac
	say "the VM ran for $((SECONDS - start))s"
}

# fsck_disks: after a complete run the scratch filesystems must be clean.
fsck_disks() {
	local fs img out
	grep -q '^STABLEPIPE-VM-DONE' "$RESULTS_LOG" || return 0
	for fs in $FS; do
		img=$BUILD/$fs.img
		case $fs in
		xfs) out=$(xfs_repair -n "$img" 2>&1) ;;
		ext4) out=$(e2fsck -fn "$img" 2>&1) ;;
		*) continue ;;
		esac || {
			printf '%s\n' "$out"
			extra_fail "fsck of the $fs scratch disk found problems"
			continue
		}
		EXTRA_PASS=$((EXTRA_PASS + 1))
	done
}

# check_all: check.sh for each kernel of KERNELS (default: all of
# kernels.conf) in turn, each one's output also in build/vm/check-NAME.log,
# then a summary per kernel and, as the very last line, the totals. A kernel
# whose run ends without a summary (it could not be fetched or built) counts
# one failure. Returns 0 only if nothing failed.
check_all() {
	local names name log kver last pass fail status start took
	local total_pass=0 total_fail=0 table='' details='' i=0 count
	names=${KERNELS:-$(kernel_names)}
	# shellcheck disable=SC2086,SC2116 # one line, one space between
	names=$(echo $names)
	[ -n "$names" ] || die "no kernels (KERNELS, $KERNELS_CONF)"
	for name in $names; do
		kernel_names | grep -qxF -- "$name" ||
			die "KERNELS: $name is not in $KERNELS_CONF (known: $(kernel_names | paste -sd ' '))"
	done
	count=$(wc -w <<<"$names")
	mkdir -p "$REPO/build/vm"
	for name in $names; do
		i=$((i + 1))
		log=$REPO/build/vm/check-$name.log
		say "KERNEL=$name ($i of $count): $log"
		start=$SECONDS
		KERNEL=$name "$HERE/check.sh" </dev/null 2>&1 | tee "$log" || true
		took=$((SECONDS - start))
		kver=$(sed -n 's/^==== stablepipe VM test summary (kernel \(.*\)) ====$/\1/p' "$log" | tail -n1)
		[ -n "$kver" ] || kver=$(sed -n 's/^==> building the module for \([^ ]*\) .*/\1/p' "$log" | tail -n1)
		last=$(tail -n1 "$log" | tr -d '\r')
		if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
			pass=${BASH_REMATCH[1]} fail=${BASH_REMATCH[2]}
			status="$pass passed, $fail failed"
			[ "$fail" -eq 0 ] || details="$details
---- KERNEL=$name ($kver): $log ----
$(sed -n '/^==== stablepipe VM test summary/,/^skipped: /p' "$log" | sed '1d;$d')"
		else
			pass=0 fail=1
			status="no result: $(grep -E '^check.sh: error: ' "$log" | tail -n1 | sed 's/^check.sh: //')"
			[ "$status" != "no result: " ] || status="no result (see the log)"
			details="$details
---- KERNEL=$name: $log ----
$(tail -n 15 "$log")"
		fi
		total_pass=$((total_pass + pass))
		total_fail=$((total_fail + fail))
		table="$table$(printf '%-8s %-22s %4dm%02ds  %s' "$name" "${kver:-?}" \
			$((took / 60)) $((took % 60)) "$status")
"
	done
	echo
	echo "==== stablepipe VM test matrix: $count kernel(s) ===="
	printf '%s' "$table"
	[ -z "$details" ] || printf '%s\n' "$details"
	echo "$total_pass passed, $total_fail failed"
	[ "$total_fail" -eq 0 ]
}

main() {
	case $# in
	0) ;;
	1)
		case $1 in
		--demo) MODE=demo ;;
		--all) MODE=all ;;
		--dkms) MODE=dkms ;;
		--signing) MODE=signing; signing_settings ;;
		*) usage ;;
		esac
		;;
	*) usage ;;
	esac
	# the demo runs on XFS (userspace/demo.sh)
	[ "$MODE" != demo ] || FS=xfs TOOLS_FS=xfs
	check_settings
	if [ "$MODE" = all ]; then
		check_all
		return
	fi
	if [ -z "$VM_OUT" ]; then
		case $MODE in
		dkms) VM_OUT=$REPO/build/vm-dkms ;;
		demo) VM_OUT=$REPO/build/demo ;;
		signing) VM_OUT=$REPO/build/vm-signing ;;
		*) VM_OUT=$REPO/build/vm ;;
		esac
	fi
	mkdir -p "$VM_OUT"
	VM_OUT=$(cd "$VM_OUT" && pwd -P)
	if [ "$MODE" = demo ]; then
		demo_begin "$VM_OUT/demo.log"
		step_start "host packages and Debian's $KERNEL kernel"
	fi
	ensure_packages "${HOST_PACKAGES[@]}"
	kernel_select "$KERNEL"
	step_end "$KVER"
	BUILD=$VM_OUT/$KVER
	MODDIR=$BUILD/module
	CONSOLE_LOG=$BUILD/console.log
	RESULTS_LOG=$BUILD/results.log
	mkdir -p "$BUILD"
	if [ "$MODE" = dkms ]; then
		use_dkms_module
		MODE=check
	elif [ "$MODE" = signing ]; then
		signing_prepare
	else
		[ "$MODE" != demo ] ||
			step_start "building the module for it (W=1, with sparse)"
		build_module
		step_end
	fi
	if [ "$MODE" = demo ]; then
		step_start "building diskbuffer, splice_punch and slowcat in $(rel "$DEMO_BIN")"
		build_demo
	elif [ "$MODE" = check ]; then
		build_selftests
		[ ${#SELECTED[@]} -gt 0 ] ||
			extra_fail "no test programs (make -C selftests list-tests)"
	fi
	make_disks
	write_conf
	say "building the initramfs"
	initramfs_build "$BUILD/initramfs.cpio.gz" "$BUILD/initramfs"
	step_end
	boot_vm
	fsck_disks
	check_dkms_loaded
	[ "$MODE" != signing ] || signing_check_docs
	if [ "$MODE" = demo ]; then
		demo_summary "$RESULTS_LOG" "$CONSOLE_LOG"
	else
		report "$RESULTS_LOG" "$CONSOLE_LOG"
	fi
}

main "$@"
