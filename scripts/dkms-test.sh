#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: scripts/dkms-test.sh          (as root; `make dkms-test`)
#
# CI proof that DKMS builds the module as users get it: dkms add, build
# and install for the kernel of the installed linux-headers-amd64 (Debian
# 12: 6.1.0-N-amd64; STABLEPIPE_KVER=KVER for another), modinfo on the
# DKMS-built .ko, dkms remove.  KTAP on stdout; exit 0 only if all passed.
#
# Nothing is loaded, and nothing outside build/ changes: dkms runs on
# scratch trees (--sourcetree, --dkmstree, --installtree under
# build/dkms-test/, --no-depmod) and signs with a scratch key, so a real
# `make dkms-install` or stablepipe-dkms package is left alone.  The
# DKMS-built module is kept as build/dkms/KVER/stablepipe.ko, and its path
# printed as "# dkms_ko: PATH" for the VM harness.
#
# Then the declared range (Linux 6.1 and later): against the headers of an
# older kernel, bullseye's 5.10 (OLD_SUITE; downloaded into the cache, not
# installed), dkms build must skip the module (BUILD_EXCLUSIVE_KERNEL, exit
# 77) and a plain `make module` must stop with a message naming the range.
set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || die "run as root (dkms needs it)"
ensure_packages dkms kmod linux-headers-amd64 openssl
KVER=$(headers_kver)
[ -n "$KVER" ] || die "cannot tell the kernel of linux-headers-amd64"
[ -d "/lib/modules/$KVER/build" ] || die "no /lib/modules/$KVER/build"

# dkms --modprobe-on-install (framework.conf or the environment) would load
# the module: refuse.
if grep -qs '^[[:space:]]*modprobe_on_install=..*' \
	/etc/dkms/framework.conf /etc/dkms/framework.conf.d/*.conf; then
	die "/etc/dkms sets modprobe_on_install: this test never loads modules"
fi
unset modprobe_on_install

WORK=$SP_REPO/build/dkms-test
OUTDIR=$SP_REPO/build/dkms/$KVER
V=$SP_VERSION
rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/dkms" "$WORK/lib/$KVER" "$OUTDIR"
rm -f "$OUTDIR/stablepipe.ko"

sp_dkms() {
	mok_signing_key=$WORK/mok.key mok_certificate=$WORK/mok.pub \
	dkms --sourcetree "$WORK/src" --dkmstree "$WORK/dkms" \
		--installtree "$WORK/lib" --no-depmod "$@" >>"$WORK/dkms.log" 2>&1
}
# run_step NAME CMD...: ok/not ok; on failure the tail of dkms.log
run_step() {
	local name=$1 mark
	shift
	mark=$(wc -l <"$WORK/dkms.log")
	if "$@"; then
		ok "$name"
		return 0
	fi
	not_ok "$name"
	tail -n +"$((mark + 1))" "$WORK/dkms.log" | tail -n 40 | diag
	return 1
}

ktap_plan 16
say "stablepipe $V, DKMS for $KVER ($(dkms --version 2>/dev/null))"
: >"$WORK/dkms.log"
t0=$(date +%s)

dkms_source "$WORK/src/stablepipe-$V"
run_step "dkms add" sp_dkms add -m stablepipe -v "$V"
added=$?

built=1
if [ $added -eq 0 ]; then
	run_step "dkms build -k $KVER" sp_dkms build -m stablepipe -v "$V" -k "$KVER"
	built=$?
	log=$WORK/dkms/stablepipe/$V/$KVER/$(uname -m)/log/make.log
	[ -f "$log" ] || log=$WORK/dkms/stablepipe/$V/build/make.log
	[ -f "$log" ] && cp "$log" "$OUTDIR/make.log"
else
	skip "dkms build -k $KVER" "dkms add failed"
fi

# DKMS runs `make module KDIR=...` in a tree with no userspace/ or
# selftests/: the module target must not reach for them.
if [ $built -eq 0 ]; then
	if grep -Eq '(userspace|selftests|diskbuffer)' "$OUTDIR/make.log"; then
		not_ok "make module builds nothing but the module"
		grep -E '(userspace|selftests|diskbuffer)' "$OUTDIR/make.log" | head | diag
	else
		ok "make module builds nothing but the module"
	fi
	grep -E 'warning:|error:' "$OUTDIR/make.log" | diag
else
	skip "make module builds nothing but the module" "no build"
fi
# dkms 3.0 runs CLEAN before and after the build, and ignores its failure
if [ $added -eq 0 ]; then
	if grep -q 'Cleaning build area.*bad exit status' "$WORK/dkms.log"; then
		not_ok "CLEAN (make module-clean) succeeds"
	else
		ok "CLEAN (make module-clean) succeeds"
	fi
else
	skip "CLEAN (make module-clean) succeeds" "dkms add failed"
fi

installed=1
if [ $built -eq 0 ]; then
	run_step "dkms install -k $KVER" sp_dkms install -m stablepipe -v "$V" -k "$KVER"
	installed=$?
else
	skip "dkms install -k $KVER" "no build"
fi

KO=
if [ $installed -eq 0 ]; then
	st=$(dkms --dkmstree "$WORK/dkms" --sourcetree "$WORK/src" \
		--installtree "$WORK/lib" status -m stablepipe -v "$V" -k "$KVER" 2>&1)
	say "dkms status: $st"
	KO=$(find "$WORK/lib/$KVER/updates/dkms" -name 'stablepipe.ko*' 2>/dev/null | head -n1)
	if [[ $st == *": installed"* ]] && [ -n "$KO" ]; then
		ok "dkms status: installed in updates/dkms"
	else
		not_ok "dkms status: installed in updates/dkms"
	fi
else
	skip "dkms status: installed in updates/dkms" "no install"
fi

# modinfo reads the file; it loads nothing.
mi() { modinfo -F "$1" "$KO" 2>/dev/null; }
if [ -n "$KO" ]; then
	cp "$KO" "$OUTDIR/"
	KO=$OUTDIR/${KO##*/}
	desc=$(mi description); author=$(mi author); lic=$(mi license)
	ver=$(mi version); vermagic=$(mi vermagic)
	say "description: $desc"
	say "author: $author"
	check "modinfo description" test -n "$desc"
	check "modinfo author" test -n "$author"
	if [ "$lic" = GPL ]; then ok "modinfo license GPL"
	else not_ok "modinfo license GPL (got '$lic')"; fi
	if [ "$ver" = "$V" ]; then ok "modinfo version $V"
	else not_ok "modinfo version $V (got '$ver')"; fi
	# Every parameter (named by parmtype or parm) has a description.
	bad='' names=''
	for p in $( { mi parmtype; mi parm; } | cut -d: -f1 | sort -u); do
		names="$names $p"
		d=$(mi parm | sed -n "s/^$p:\(.*\)/\1/p" |
			sed 's/ *([a-z]*)$//; s/^ *//')
		[ -n "$d" ] || bad="$bad $p"
	done
	say "parameters:$names"
	if [ -z "$names" ]; then
		not_ok "every parameter has a description (none found)"
	elif [ -n "$bad" ]; then
		not_ok "every parameter has a description (missing:$bad)"
	else
		ok "every parameter has a description"
	fi
	if [ "${vermagic%% *}" = "$KVER" ]; then ok "vermagic is $KVER"
	else not_ok "vermagic is $KVER (got '$vermagic')"; fi
else
	for n in "modinfo description" "modinfo author" "modinfo license GPL" \
		 "modinfo version $V" "every parameter has a description" \
		 "vermagic is $KVER"; do
		skip "$n" "no module installed"
	done
fi

if [ $added -eq 0 ]; then
	if sp_dkms remove -m stablepipe -v "$V" --all &&
	   [ -z "$(find "$WORK/lib/$KVER" -name 'stablepipe.ko*')" ] &&
	   [ ! -e "$WORK/dkms/stablepipe/$V" ]; then
		ok "dkms remove --all"
	else
		not_ok "dkms remove --all"
		tail -n 20 "$WORK/dkms.log" | diag
	fi
else
	skip "dkms remove --all" "nothing added"
fi

# old_headers: "KVER KDIR" of OLD_SUITE's kernel headers, fetched by the VM
# harness's kernels.sh into the cache (headers only).
OLD_SUITE=${OLD_SUITE:-bullseye}
old_headers() {
	(
		HERE=$SP_REPO/selftests/vm CACHE=$SP_CACHE
		export FETCH_IMAGE=0
		# shellcheck source-path=SCRIPTDIR source=../selftests/vm/lib.sh
		. "$HERE/lib.sh"
		# shellcheck source-path=SCRIPTDIR source=../selftests/vm/kernels.sh
		. "$HERE/kernels.sh"
		mkdir -p "$CACHE"
		CACHE=$(cd "$CACHE" && pwd -P)
		(
			flock 9
			fetch_suite "$OLD_SUITE" amd64 >&2
			echo "$KVER $KDIR"
		) 9>"$CACHE/.lock"
	)
}

if old=$(old_headers) && read -r OLD_KVER OLD_KDIR <<<"$old" &&
	[ -f "$OLD_KDIR/Makefile" ]; then
	say "$OLD_SUITE's kernel: $OLD_KVER ($OLD_KDIR)"
	: >"$WORK/old.log"
	sp_dkms add -m stablepipe -v "$V" >/dev/null 2>&1
	mok_signing_key=$WORK/mok.key mok_certificate=$WORK/mok.pub \
	dkms --sourcetree "$WORK/src" --dkmstree "$WORK/dkms" \
		--installtree "$WORK/lib" --no-depmod build -m stablepipe -v "$V" \
		-k "$OLD_KVER" --kernelsourcedir "$OLD_KDIR" >"$WORK/old.log" 2>&1
	rc=$?
	diag <"$WORK/old.log"
	if [ $rc -eq 77 ] && grep -q 'BUILD_EXCLUSIVE' "$WORK/old.log" &&
		[ -z "$(find "$WORK/dkms/stablepipe" -name 'stablepipe.ko*' 2>/dev/null)" ]; then
		ok "dkms build -k $OLD_KVER: skipped (BUILD_EXCLUSIVE_KERNEL, exit 77)"
	else
		not_ok "dkms build -k $OLD_KVER: skipped (BUILD_EXCLUSIVE_KERNEL, exit 77; got $rc)"
	fi
	sp_dkms remove -m stablepipe -v "$V" --all >/dev/null 2>&1
	rm -rf "$WORK/old-tree"
	copy_sources "$WORK/old-tree" Kbuild VERSION module uapi
	# CC=gcc: the host's; the module's Kbuild refuses before compiling
	make -C "$OLD_KDIR" M="$WORK/old-tree" CC=gcc modules \
		>"$WORK/old-make.log" 2>&1
	rc=$?
	grep -m1 'stablepipe supports' "$WORK/old-make.log" | diag
	if [ $rc -ne 0 ] &&
		grep -q "stablepipe supports Linux 6.1 and later, not 5.10" "$WORK/old-make.log"; then
		ok "the module build for $OLD_KVER stops, naming the supported range"
	else
		not_ok "the module build for $OLD_KVER stops, naming the supported range"
		tail -n 20 "$WORK/old-make.log" | diag
	fi
	if grep -q 'BUILD_EXCLUSIVE_KERNEL=.*6' "$WORK/src/stablepipe-$V/dkms.conf"; then
		ok "the installed dkms.conf declares the range"
	else
		not_ok "the installed dkms.conf declares the range"
	fi
else
	for n in "dkms build -k OLD: skipped" "the module build for OLD stops" \
		 "the installed dkms.conf declares the range"; do
		not_ok "$n (cannot fetch $OLD_SUITE's kernel headers)"
	done
fi

say "dkms-test took $(( $(date +%s) - t0 ))s; log: $WORK/dkms.log"
[ -n "$KO" ] && echo "# dkms_ko: $KO"
ktap_end
