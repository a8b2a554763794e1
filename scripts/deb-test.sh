#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: scripts/deb-test.sh [DIR]        (as root; `make deb-test`)
#
# Installs build/deb/stablepipe-dkms_*.deb and stablepipe-tools_*.deb (or
# those in DIR; `make deb` first) into a clean Debian 12 chroot with apt,
# so that their dependencies come from the archive, and checks: DKMS
# registers, builds and installs the module for the chroot's
# linux-headers-amd64 kernel; the module-load entry; <linux/stablepipe.h>
# and <stablepipe2.h> compile on their own; every program in /usr/bin runs
# --help and prints VERSION with --version; the manual pages are there;
# purging stablepipe-dkms removes the module.  KTAP on stdout; exit 0 only
# if all passed.
#
# The chroot (debootstrap --variant=minbase bookworm, plus
# linux-headers-amd64) is cached as a tarball in
# $STABLEPIPE_CACHE/bookworm-chroot/KEY.tar.zst, KEY a hash of what goes
# into it (suite, mirror, packages); every run unpacks a fresh copy into
# build/deb-test/root and removes it at the end.  The mirror is the host's
# (or STABLEPIPE_MIRROR).  Nothing is loaded: the chroot shares the host's
# kernel, and dkms never runs modprobe here.
set -u -o pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
DEBS=${1:-$SP_REPO/build/deb}
DKMS_DEB=$(ls "$DEBS"/stablepipe-dkms_"$SP_VERSION"_all.deb 2>/dev/null)
TOOLS_DEB=$(ls "$DEBS"/stablepipe-tools_"$SP_VERSION"_*.deb 2>/dev/null)
if [ ! -f "$DKMS_DEB" ] || [ ! -f "$TOOLS_DEB" ]; then
	die "no stablepipe-dkms/-tools $SP_VERSION .debs in $DEBS: run make deb"
fi
ensure_packages debootstrap zstd debian-archive-keyring

SUITE=bookworm
# the headers for DKMS; a C compiler and libc headers for the header checks
CHROOT_PKGS=linux-headers-amd64,gcc,libc6-dev
mirror() {
	local uri
	if [ -n "${STABLEPIPE_MIRROR:-}" ]; then
		echo "${STABLEPIPE_MIRROR%/}"
		return
	fi
	# shellcheck disable=SC2016 # apt's format
	uri=$(apt-get indextargets --no-release-info \
		--format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' 2>/dev/null |
		awk -v s=$SUITE '$1 == "deb" && $2 == s { print $3; exit }')
	uri=${uri:-http://deb.debian.org/debian}
	echo "${uri%/}"
}
MIRROR=$(mirror)
KEY=$(printf '%s\n' v1 "$SUITE" "$(dpkg --print-architecture)" "$MIRROR" \
	minbase "$CHROOT_PKGS" | sha256sum | cut -c1-16)
CDIR=$SP_CACHE/$SUITE-chroot
TARBALL=$CDIR/$KEY.tar.zst
WORK=$SP_REPO/build/deb-test
ROOT=$WORK/root
LOG=$WORK/deb-test.log

# in_chroot CMD...: run CMD in $ROOT with /proc and /dev, in a private mount
# namespace so that the mounts go away with it whatever happens.
in_chroot() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- bash -euc '
		mount -t proc proc "$0/proc"
		mount --rbind /dev "$0/dev"
		exec chroot "$0" /usr/bin/env -i HOME=/root LC_ALL=C.UTF-8 \
			DEBIAN_FRONTEND=noninteractive \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' "$ROOT" "$@"
}

# The cached chroot: built once per KEY, under a lock.
make_tarball() {
	local new=$CDIR/$KEY.new
	[ -f "$TARBALL" ] && return 0
	say "building the $SUITE chroot (debootstrap from $MIRROR; once per key $KEY)"
	rm -rf "$new"
	if ! debootstrap --variant=minbase --include="$CHROOT_PKGS" \
		"$SUITE" "$new" "$MIRROR" >"$CDIR/$KEY.log" 2>&1; then
		tail -n 20 "$CDIR/$KEY.log" >&2
		rm -rf "$new"
		return 1
	fi
	chroot "$new" apt-get clean
	tar -C "$new" --zstd -cf "$TARBALL.tmp" . &&
		mv "$TARBALL.tmp" "$TARBALL"
	rm -rf "$new"
	# chroots of other keys are stale now
	find "$CDIR" -maxdepth 1 \( -name '*.tar.zst' -o -name '*.log' \) \
		! -name "$KEY.*" -delete
	[ -f "$TARBALL" ]
}
mkdir -p "$CDIR"
(
	flock 9
	make_tarball
) 9>"$CDIR/.lock" || die "cannot build the $SUITE chroot (log: $CDIR/$KEY.log)"

rm -rf "$WORK"
mkdir -p "$ROOT"
t0=$(date +%s)
tar -C "$ROOT" --zstd -xf "$TARBALL" || die "cannot unpack $TARBALL"
cleanup() {
	# the mounts live in in_chroot's own namespace; never rm through one
	if grep -q " $ROOT/" /proc/mounts; then
		echo "# $ROOT: still mounted, not removed" >&2
	else
		rm -rf "$ROOT"
	fi
}
trap cleanup EXIT
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
mkdir -p "$ROOT/tmp/debs"
cp "$DKMS_DEB" "$TOOLS_DEB" "$ROOT/tmp/debs/"
# shellcheck disable=SC2016 # dpkg-query's format
KVER=$(in_chroot dpkg-query -W -f='${Depends}\n' linux-headers-amd64 |
	tr ',' '\n' | sed -n 's/^ *linux-headers-\([^ ]*\).*/\1/p' | head -n1)
BINS=$(dpkg-deb -c "$TOOLS_DEB" | awk '{print $6}' | sed -n 's:^\./usr/bin/::p' | grep .)
MANS=$(dpkg-deb -c "$TOOLS_DEB" | awk '{print $6}' | grep -c '^\./usr/share/man/man.*/.')

nb=$(echo "$BINS" | grep -c .)
ktap_plan $((9 + (nb > 0 ? nb : 1)))
say "stablepipe $SP_VERSION .debs in a $SUITE chroot (key $KEY), headers for $KVER; log: $LOG"
: >"$LOG"

# step NAME CMD...: CMD in the chroot, output to the log; ok/not ok, and
# the output's tail as diagnostics on failure
step() {
	local name=$1 mark
	shift
	mark=$(wc -l <"$LOG")
	if in_chroot "$@" >>"$LOG" 2>&1; then
		ok "$name"
		return 0
	fi
	not_ok "$name"
	tail -n +"$((mark + 1))" "$LOG" | tail -n 30 | diag
	return 1
}

V=$SP_VERSION
step "apt-get install stablepipe-dkms stablepipe-tools (dependencies from $SUITE)" \
	sh -c "apt-get -q update && apt-get -q -y --no-install-recommends install \
		/tmp/debs/${DKMS_DEB##*/} /tmp/debs/${TOOLS_DEB##*/}"
installed=$?

if [ $installed -eq 0 ]; then
	step "dkms status: stablepipe/$V installed for $KVER" \
		sh -c "s=\$(dkms status -m stablepipe -v $V -k $KVER); echo \"\$s\";
			case \"\$s\" in *': installed'*) ;; *) exit 1 ;; esac"
	step "stablepipe.ko in /lib/modules/$KVER/updates/dkms, modinfo version $V" \
		sh -c "test \"\$(modinfo -F version \
			/lib/modules/$KVER/updates/dkms/stablepipe.ko)\" = $V"
	step "/usr/lib/modules-load.d/stablepipe.conf loads stablepipe at boot" \
		grep -qx stablepipe /usr/lib/modules-load.d/stablepipe.conf
	step "<linux/stablepipe.h> compiles on its own (-Wall -Wextra -pedantic -Werror)" \
		sh -c 'echo "#include <linux/stablepipe.h>" |
			gcc -x c -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -'
	step "<stablepipe2.h> compiles on its own" \
		sh -c 'echo "#include <stablepipe2.h>" |
			gcc -x c -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -'
	if [ "$nb" -eq 0 ]; then
		skip "the tools run --help" "stablepipe-tools has no programs yet"
	fi
	for b in $BINS; do
		step "$b --help, and --version says $V" \
			sh -c "/usr/bin/$b --help >/dev/null || exit 1
				v=\$(/usr/bin/$b --version); echo \"\$v\"
				echo \"\$v\" | grep -qw '$V'"
	done
	step "manual pages: stablepipe(4) and $MANS in all" \
		sh -c 'test -f /usr/share/man/man4/stablepipe.4.gz'
	step "apt-get purge stablepipe-dkms removes the module and the sources" \
		sh -c "apt-get -q -y purge stablepipe-dkms &&
			test -z \"\$(dkms status -m stablepipe)\" &&
			test ! -e /lib/modules/$KVER/updates/dkms/stablepipe.ko &&
			test ! -e /usr/src/stablepipe-$V"
	step "apt-get purge stablepipe-tools" \
		sh -c "apt-get -q -y purge stablepipe-tools &&
			test ! -e /usr/include/linux/stablepipe.h"
else
	in_chroot sh -c 'tail -n 30 /var/lib/dkms/stablepipe/*/build/make.log' \
		2>/dev/null | diag
	for n in "dkms status" "stablepipe.ko installed" "modules-load.d entry" \
		 "<linux/stablepipe.h> compiles" "<stablepipe2.h> compiles" \
		 $([ "$nb" -eq 0 ] && echo tools) $BINS "manual pages" \
		 "purge stablepipe-dkms" "purge stablepipe-tools"; do
		skip "$n" "the packages did not install"
	done
fi

say "deb-test took $(( $(date +%s) - t0 ))s (unpack, install, build, purge)"
ktap_end
