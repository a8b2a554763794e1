#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The stablepipe debug kernel: Debian's linux-source-6.1 configured from
# `make allnoconfig` with three fragments, minimal.config (what the test VM
# needs: virtio disks, XFS, ext4, tmpfs, serial console, ...),
# debug.config (KASAN, lockdep, kmemleak, fault injection, ...) and
# signing.config (module signatures, lockdown), as WireGuard's harness
# builds its kernels; built once and cached. The VM harness boots it for
# `make check-debug` (kernels.conf: fetch "debug") and for
# check-signing.sh.
#
# usage: selftests/vm/debug-kernel.sh [--print | --path | --key]
#   (none)   build the kernel unless the cache already has it
#   --print  the same, then print KVER=... KDIR=... KROOT=... KIMAGE=...
#            (shell-quoted) for kernels.sh
#   --path   print the cache directory of the current key (no build)
#   --key    print the key (no build)
#
# The cache: $STABLEPIPE_CACHE/debug-kernel/KEY, where KEY is the kernel's
# major version (6.1) and a hash of the fragments, of the recipe below
# and of the compiler's major version: not the linux-source-6.1 package's
# version, so that a Debian point release (a new 6.1.y) does not cost a
# rebuild; the lane tests the module, not the 6.1.y. The version that was
# built is in KEY/source-version. A directory is complete when
# it holds "done"; an incomplete one (an interrupted build) is rebuilt.
# Directories of other keys are removed after a successful build (unless
# DEBUG_KERNEL_PRUNE=0).
# Inside: src/ (the unpacked source), build/ (O=, the tree modules are
# built against: .config, Module.symvers, scripts), root/ (the image:
# boot/vmlinuz-KVER, lib/modules/KVER with depmod run), build.log, times,
# and signing/: the test key the kernel trusts (CONFIG_MODULE_SIG_KEY),
# made as DKMS makes its machine owner key: mok.key (the private key,
# PEM), mok.pub (the certificate, DER), and signing_key.pem (both, PEM,
# what the kernel's build reads).
#
# Settings (environment):
#   STABLEPIPE_CACHE=DIR  (default /var/cache/stablepipe)
#   JOBS=N                make -jN (default: nproc)
#   NICE=N                nice level of the build (default 10)
#   DEBUG_KERNEL_PRUNE=0  keep the cached builds of other keys
#
# Time (2 CPUs): see Documentation/stablepipe.rst, "The reliability lane".
# shellcheck source-path=SCRIPTDIR
set -eu -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

CACHE=${STABLEPIPE_CACHE:-/var/cache/stablepipe}
JOBS=${JOBS:-$(nproc)}
NICE=${NICE:-10}
SRC_VERSION=6.1
SRC_PKG=linux-source-$SRC_VERSION
SRC_TAR=/usr/src/linux-source-$SRC_VERSION.tar.xz
FRAGMENTS=("$HERE/minimal.config" "$HERE/debug.config" "$HERE/signing.config")
# bump when the recipe (the build steps below) changes
RECIPE=3
BUILD_PACKAGES=("$SRC_PKG" build-essential bc flex bison libelf-dev libssl-dev
	kmod cpio xz-utils openssl)
# the subject of the test key; check-signing.sh expects it as the signer
SIGNING_CN="stablepipe debug kernel test key"

debug_key() {
	local sum
	command -v gcc >/dev/null || ensure_packages build-essential
	sum=$({ cat "${FRAGMENTS[@]}"; echo "recipe=$RECIPE"
		echo "gcc $(gcc -dumpversion)"; } | sha256sum | cut -c1-12)
	printf '%s-%s\n' "$SRC_VERSION" "$sum"
}

# check_fragment CONFIG FRAGMENT: every setting of FRAGMENT made it into
# CONFIG (olddefconfig drops what it cannot satisfy, silently).
check_fragment() {
	local config=$1 fragment=$2 line name bad=0 want have
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) name=${line%%=*} want=$line ;;
		"# CONFIG_"*" is not set") name=${line#\# } name=${name%% *} want= ;;
		*) continue ;;
		esac
		have=$(grep -E "^($name=|# $name is not set)" "$config" || true)
		case $have in "# $name is not set") have= ;; esac
		if [ "$have" != "$want" ]; then
			warn "${fragment##*/}: ${want:-# $name is not set}, but .config has '${have:-not set}'"
			bad=1
		fi
	done <"$fragment"
	[ $bad = 0 ] || die "${fragment##*/} does not apply (see above)"
}

# make_signing_key DIR: the test key, made with the openssl command DKMS
# 3.0 uses for /var/lib/dkms/mok.key and mok.pub (but another subject).
make_signing_key() {
	local dir=$1
	mkdir -p "$dir"
	openssl req -new -x509 -nodes -days 36500 -subj "/CN=$SIGNING_CN" \
		-newkey rsa:2048 -keyout "$dir/mok.key" \
		-outform DER -out "$dir/mok.pub" >/dev/null 2>&1 ||
		die "openssl req could not make the test key"
	{
		cat "$dir/mok.key"
		openssl x509 -inform DER -in "$dir/mok.pub" -outform PEM
	} >"$dir/signing_key.pem"
}

# timed NAME COMMAND...: run COMMAND, record its duration in DIR/times.
timed() {
	local name=$1 start=$SECONDS
	shift
	"$@"
	printf '%s %ds\n' "$name" $((SECONDS - start)) | tee -a "$DIR/times"
}

kmake() {
	nice -n "$NICE" make -C "$DIR/build" -j"$JOBS" "$@"
}

build() {
	local kver start=$SECONDS
	ensure_packages "${BUILD_PACKAGES[@]}"
	[ -f "$SRC_TAR" ] || die "no $SRC_TAR"
	say "building the debug kernel in $DIR (-j$JOBS, nice $NICE; log: $DIR/build.log)"
	rm -rf "$DIR"
	mkdir -p "$DIR/build" "$DIR/root/boot"
	: >"$DIR/times"
	make_signing_key "$DIR/signing"
	timed unpack tar -xf "$SRC_TAR" -C "$DIR"
	mv "$DIR/linux-source-6.1" "$DIR/src"
	dpkg-query -W -f='${Version}\n' "$SRC_PKG" >"$DIR/source-version"
	# allnoconfig, with the fragments as the values to start from
	# and the test key (not in a fragment: its path is not part of KEY)
	printf 'CONFIG_MODULE_SIG_KEY="%s"\n' "$DIR/signing/signing_key.pem" \
		>"$DIR/build/signing-key.config"
	cat "${FRAGMENTS[@]}" "$DIR/build/signing-key.config" \
		>"$DIR/build/fragments.config"
	{
		make -C "$DIR/src" O="$DIR/build" \
			KCONFIG_ALLCONFIG="$DIR/build/fragments.config" allnoconfig
		make -C "$DIR/build" olddefconfig
	} >"$DIR/build.log" 2>&1 || die "configuring failed (log: $DIR/build.log)"
	for f in "${FRAGMENTS[@]}" "$DIR/build/signing-key.config"; do
		check_fragment "$DIR/build/.config" "$f"
	done
	# bzImage, then `make modules` (there are none: everything the VM
	# needs is built in), which writes the Module.symvers that modpost
	# needs for an external module
	timed bzImage kmake bzImage >>"$DIR/build.log" 2>&1 ||
		{ tail -n 30 "$DIR/build.log"; die "make bzImage failed (log: $DIR/build.log)"; }
	timed modules kmake modules >>"$DIR/build.log" 2>&1 ||
		{ tail -n 30 "$DIR/build.log"; die "make modules failed (log: $DIR/build.log)"; }
	kver=$(make -s -C "$DIR/build" kernelrelease)
	kmake INSTALL_MOD_PATH="$DIR/root" INSTALL_MOD_STRIP=1 DEPMOD=true \
		modules_install >>"$DIR/build.log" 2>&1 ||
		die "make modules_install failed (log: $DIR/build.log)"
	depmod -b "$DIR/root" "$kver"
	cp "$DIR/build/arch/x86/boot/bzImage" "$DIR/root/boot/vmlinuz-$kver"
	[ -f "$DIR/build/Module.symvers" ] || die "no Module.symvers"
	# the certificate built into the kernel is the test key's
	cmp -s "$DIR/signing/mok.pub" "$DIR/build/certs/signing_key.x509" ||
		die "build/certs/signing_key.x509 is not signing/mok.pub"
	printf 'total %ds\n' $((SECONDS - start)) | tee -a "$DIR/times"
	printf '%s\n' "$kver" >"$DIR/done"
	[ "${DEBUG_KERNEL_PRUNE:-1}" = 0 ] || prune
	say "debug kernel $kver ready: $DIR ($(du -sh "$DIR" | cut -f1))"
}

# prune: remove the cached builds of other keys.
prune() {
	local d
	for d in "$CACHE/debug-kernel"/*/; do
		d=${d%/}
		[ "$d" = "$DIR" ] || rm -rf "$d"
	done
}

main() {
	local mode=build
	case ${1:-} in
	'') ;;
	--print | --path | --key) mode=${1#--} ;;
	*) sed -n '/^# usage:/,/^#   --key/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
	KEY=$(debug_key)
	[ "$mode" = key ] && { printf '%s\n' "$KEY"; return; }
	if ! mkdir -p "$CACHE/debug-kernel" 2>/dev/null ||
		[ ! -w "$CACHE/debug-kernel" ]; then
		die "cache $CACHE/debug-kernel is not writable (set STABLEPIPE_CACHE=DIR)"
	fi
	CACHE=$(cd "$CACHE" && pwd -P)
	DIR=$CACHE/debug-kernel/$KEY
	[ "$mode" = path ] && { printf '%s\n' "$DIR"; return; }
	(
		flock 9	# one build at a time
		[ -f "$DIR/done" ] || build >&2
	) 9>"$CACHE/debug-kernel/.lock"
	if [ "$mode" = print ]; then
		local kver
		kver=$(cat "$DIR/done")
		printf 'KVER=%q KDIR=%q KROOT=%q KIMAGE=%q\n' "$kver" "$DIR/build" \
			"$DIR/root" "$DIR/root/boot/vmlinuz-$kver"
	fi
}

main "$@"
