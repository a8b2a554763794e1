# shellcheck shell=bash
# Kernel selection, fetching and module building for the stablepipe VM
# harness (sourced by check.sh). See kernels.conf for the table of kernels.
#
# kernel_select NAME reads the line NAME of kernels.conf and runs its
# fetch_<fetch> SUITE FLAVOUR, which must set:
#   KVER    the kernel release (uname -r), e.g. 6.1.0-56-amd64
#   KDIR    a kernel build tree (the headers) to build the module against
#   KROOT   an unpacked image: KROOT/lib/modules/KVER with modules.dep
#           (see unpack_debs)
#   KIMAGE  the kernel image to boot (see find_image)
# and sets KBUILD to the line's build function, build_<build>, and
# KBUILD_ARG to the text after a ':' in the build column (build_<build>
# gets it as $1). The build function builds the module in MODDIR (a copy
# of the module's sources, see check.sh) against KDIR; its output is the
# build log.
# Everything downloaded or unpacked lives in $CACHE: debs/ (packages),
# kernels/KVER/ (unpacked), apt/SUITE/ (private package lists of other
# suites), SUITE-chroot/ (build chroots).

KERNELS_CONF=${KERNELS_CONF:-$(dirname "${BASH_SOURCE[0]}")/kernels.conf}
# what the kernels' own apt sources are signed with (other suites included)
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# refresh the private package lists of other suites after this many minutes
SUITE_LISTS_MAX_AGE=${SUITE_LISTS_MAX_AGE:-1440}
# packages of a build chroot (build_chroot adds the kernel's compiler)
CHROOT_PACKAGES=(make libc6-dev libelf-dev bc flex bison kmod pahole sparse)

# kernel_names: the names in kernels.conf, in order.
kernel_names() {
	awk '$1 !~ /^#/ && NF { print $1 }' "$KERNELS_CONF"
}

kernel_select() {
	local name=$1 line fetch suite flavour build
	line=$(awk -v k="$name" '$1 == k && $1 !~ /^#/' "$KERNELS_CONF")
	[ -n "$line" ] || die "KERNEL=$name is not in $KERNELS_CONF (known: $(
		kernel_names | paste -sd ' '))"
	read -r _ fetch suite flavour build sparse _ <<<"$line"
	[ -n "$build" ] || die "kernels.conf: KERNEL=$name: the line needs 5 columns"
	declare -F "fetch_$fetch" >/dev/null ||
		die "kernels.conf: KERNEL=$name: no function fetch_$fetch in kernels.sh"
	declare -F "build_${build%%:*}" >/dev/null ||
		die "kernels.conf: KERNEL=$name: no function build_${build%%:*} in kernels.sh"
	KSUITE=$suite KSPARSE=${sparse:--}
	# shellcheck disable=SC2034 # check.sh runs "$KBUILD" "$KBUILD_ARG"
	KBUILD=build_${build%%:*} KBUILD_ARG=''
	# shellcheck disable=SC2034
	case $build in *:*) KBUILD_ARG=${build#*:} ;; esac
	if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
		die "cache $CACHE is not writable (set STABLEPIPE_CACHE=DIR)"
	fi
	CACHE=$(cd "$CACHE" && pwd -P)
	(
		flock 9	# one fetch at a time per cache
		"fetch_$fetch" "$suite" "$flavour"
		printf 'KVER=%q KDIR=%q KROOT=%q\n' "$KVER" "$KDIR" "$KROOT" \
			>"$CACHE/.selected.$$"
	) 9>"$CACHE/.lock" || exit 1
	# shellcheck disable=SC1090
	. "$CACHE/.selected.$$"
	rm -f "$CACHE/.selected.$$"
	KIMAGE=$(find_image "$KROOT" "$KVER")
	[ -f "$KDIR/Makefile" ] || die "no kernel headers in $KDIR"
	[ -f "$KIMAGE" ] || die "no kernel image for $KVER in $KROOT"
	say "resolved KERNEL=$name: $KVER"
}

# find_image KROOT KVER: print the path of the kernel image (bookworm's
# packages have boot/vmlinuz-KVER, newer ones lib/modules/KVER/vmlinuz).
find_image() {
	local f
	for f in "$1/boot/vmlinuz-$2" "$1/usr/lib/modules/$2/vmlinuz" \
		"$1/lib/modules/$2/vmlinuz"; do
		[ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
	done
	printf '%s\n' "$1/boot/vmlinuz-$2"
}

# fetch_installed SUITE FLAVOUR: the kernel of the host's installed
# linux-headers-FLAVOUR meta package (SUITE is unused: the host's sources).
fetch_installed() {
	local flavour=$2 meta=linux-headers-$2 pkg ver stamp
	ensure_packages "$meta"
	pkg=$(dpkg-query -W -f='${Depends}' "$meta" |
		grep -o "linux-headers-[0-9][^ ,]*-$flavour" | head -n1)
	[ -n "$pkg" ] || die "cannot tell which kernel $meta depends on"
	is_installed "$pkg" || die "$pkg is not installed"
	KVER=${pkg#linux-headers-}
	KDIR=/usr/src/linux-headers-$KVER
	ver=$(dpkg-query -W -f='${Version}' "$pkg")
	KROOT=$CACHE/kernels/$KVER/root
	stamp="linux-image-$KVER=$ver"
	if ! unpacked "$KVER" "$stamp"; then
		unpack_debs "$KVER" "$stamp" \
			"$(download_deb "linux-image-$KVER" "$ver")"
	fi
}

# fetch_suite SUITE FLAVOUR: the kernel that SUITE's linux-headers-FLAVOUR
# meta package points at (e.g. bookworm-backports, sid), from the mirror the
# host already uses (private package lists in $CACHE/apt/SUITE; the host's
# apt configuration is not touched). Headers, kbuild and image, and the
# packages of that kernel they depend on, are unpacked into
# $CACHE/kernels/KVER/root; the headers are built against there.
# FETCH_IMAGE=0: the headers only (scripts/dkms-test.sh's old kernel).
fetch_suite() {
	local suite=$1 flavour=$2 meta=linux-headers-$2 deps hdr abi pkgs p ver
	local stamp='' debs=()
	[ "$suite" != - ] || die "kernels.conf: fetch 'suite' needs a suite"
	suite_apt "$suite"
	deps=$(apt_depends "$meta")
	hdr=$(awk -v f="-$flavour" 'index($0, "linux-headers-") == 1 &&
		substr($0, length($0) - length(f) + 1) == f { print; exit }' <<<"$deps")
	[ -n "$hdr" ] ||
		die "$suite has no $meta (or it depends on no linux-headers-*-$flavour)"
	KVER=${hdr#linux-headers-}
	abi=${KVER%-"$flavour"}
	if [ "${FETCH_IMAGE:-1}" = 1 ]; then
		pkgs=$(apt_closure "$abi" "linux-headers-$KVER" "linux-image-$KVER")
	else
		pkgs=$(apt_closure "$abi" "linux-headers-$KVER")
	fi
	for p in $pkgs; do
		ver=$(apt_version "$p")
		[ -n "$ver" ] || die "$suite: no installable version of $p"
		stamp="$stamp$p=$ver
"
	done
	KROOT=$CACHE/kernels/$KVER/root
	KDIR=$KROOT/usr/src/linux-headers-$KVER
	unpacked "$KVER" "$stamp" && return 0
	for p in $pkgs; do
		debs+=("$(download_deb "$p" "$(apt_version "$p")" "${SUITE_APT[@]}")")
	done
	unpack_debs "$KVER" "$stamp" "${debs[@]}"
}

# debian_mirror: the URI of the host's own Debian release in its apt sources
# (any format), or STABLEPIPE_MIRROR.
debian_mirror() {
	local codename targets uri
	if [ -n "${STABLEPIPE_MIRROR:-}" ]; then
		printf '%s\n' "${STABLEPIPE_MIRROR%/}"
		return 0
	fi
	# shellcheck disable=SC1091
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	# shellcheck disable=SC2016 # apt's format, not the shell's
	targets=$(apt-get indextargets --no-release-info \
		--format '$(TARGET_OF) $(RELEASE) $(REPO_URI)')
	uri=$(awk -v c="$codename" '
		$1 != "deb" { next }
		$2 == c { print $3; found = 1; exit }
		first == "" && $2 !~ /-(security|updates|backports)$/ { first = $3 }
		END { if (!found && first != "") print first }' <<<"$targets")
	[ -n "$uri" ] ||
		die "no Debian mirror in the host's apt sources (set STABLEPIPE_MIRROR=URL)"
	printf '%s\n' "${uri%/}"
}

# suite_apt SUITE: set SUITE_APT, the apt-get/apt-cache options that use
# private package lists of SUITE in $CACHE/apt/SUITE. Updates them when they
# are older than SUITE_LISTS_MAX_AGE minutes (old lists are used, with a
# warning, if that fails).
suite_apt() {
	local suite=$1 dir=$CACHE/apt/$1 line
	ensure_packages debian-archive-keyring
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	line="deb [signed-by=$DEBIAN_KEYRING] $(debian_mirror) $suite main"
	if [ "$(cat "$dir/sources.list" 2>/dev/null)" != "$line" ]; then
		printf '%s\n' "$line" >"$dir/sources.list"
		rm -f "$dir/updated"
	fi
	[ -f "$dir/status" ] || : >"$dir/status"
	SUITE_APT=(-o "Dir::Etc::SourceList=$dir/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences=/dev/null
		-o Dir::Etc::PreferencesParts=/dev/null
		-o "Dir::State::Lists=$dir/lists" -o "Dir::State::Status=$dir/status"
		-o "Dir::Cache=$dir" -o "Dir::Cache::Archives=$dir/archives"
		-o "Dir::Cache::pkgcache=$dir/pkgcache.bin"
		-o "Dir::Cache::srcpkgcache=$dir/srcpkgcache.bin"
		-o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
	[ -n "$(find "$dir/updated" -mmin -"$SUITE_LISTS_MAX_AGE" 2>/dev/null)" ] &&
		return 0
	say "updating the package lists of $suite" >&2
	if apt-get -q "${SUITE_APT[@]}" update >&2; then
		touch "$dir/updated"
	elif [ -f "$dir/updated" ]; then
		warn "cannot update the package lists of $suite; using those of $(date -r "$dir/updated")"
	else
		die "cannot download the package lists of $suite"
	fi
}

# apt_show PKG: the record of PKG's candidate in SUITE_APT's lists.
apt_show() {
	apt-cache "${SUITE_APT[@]}" show --no-all-versions "$1" 2>/dev/null || true
}

# apt_version PKG: the candidate version of PKG in SUITE_APT's lists.
apt_version() {
	local rec
	rec=$(apt_show "$1")
	awk '/^$/ { exit } /^Version: / { print $2; exit }' <<<"$rec"
}

# apt_depends PKG: the packages that PKG's candidate (pre-)depends on, the
# first of each set of alternatives.
apt_depends() {
	local rec
	rec=$(apt_show "$1")
	awk '
	/^$/ { exit }
	/^(Pre-)?Depends:/ {
		sub(/^[^:]*:/, "")
		n = split($0, deps, ",")
		for (i = 1; i <= n; i++) {
			split(deps[i], alt, "|")
			d = alt[1]
			sub(/\(.*/, "", d); sub(/:.*/, "", d); gsub(/[ \t]/, "", d)
			if (d != "") print d
		}
	}' <<<"$rec"
}

# apt_closure ABI PKG...: PKG... and, recursively, the packages they depend
# on whose names contain ABI (the -common headers, kbuild, and on newer
# kernels the binary/modules/base packages behind linux-image), and kbuild
# (linux-kbuild-5.10 on bullseye, whose name lacks the ABI).
apt_closure() {
	local abi=$1 todo seen=" " p d
	shift
	todo=("$@")
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		case $seen in *" $p "*) continue ;; esac
		seen="$seen$p "
		printf '%s\n' "$p"
		for d in $(apt_depends "$p"); do
			case $d in *"$abi"* | linux-kbuild-*) todo+=("$d") ;; esac
		done
	done
}

# download_deb PKG VERSION [APT-OPTION...]: print the path of PKG_VERSION's
# .deb in $CACHE/debs, downloading it with apt-get download if needed (with
# an apt-get update first if the lists do not know it).
download_deb() {
	local pkg=$1 ver=$2 dir=$CACHE/debs f
	shift 2
	f=$(deb_path "$dir" "$pkg" "$ver")
	if [ -z "$f" ]; then
		mkdir -p "$dir"
		say "downloading $pkg=$ver" >&2
		if ! (cd "$dir" && apt-get -q -o APT::Sandbox::User=root "$@" \
			download "$pkg=$ver") >&2; then
			[ "$(id -u)" = 0 ] || die "cannot download $pkg=$ver"
			apt_host -q "$@" update >&2
			(cd "$dir" && apt-get -q -o APT::Sandbox::User=root "$@" \
				download "$pkg=$ver") >&2 ||
				die "cannot download $pkg=$ver (is the installed header package older than the mirror's? apt-get install linux-headers-amd64)"
		fi
		f=$(deb_path "$dir" "$pkg" "$ver")
	fi
	[ -n "$f" ] || die "downloaded $pkg=$ver, but found no .deb in $dir"
	printf '%s\n' "$f"
}

deb_path() {	# DIR PKG VERSION
	local f
	for f in "$1/${2}_${3/:/%3a}_"*.deb; do
		[ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
	done
}

# unpack_stamp KVER STAMP: what kernels/KVER/stamp holds once STAMP (the
# packages) is unpacked there: also the place (the headers refer to it) and
# the harness's own additions (unpack_fixup).
unpack_stamp() {
	printf '%s\n' "${2%$'\n'}" "root=$CACHE/kernels/$1/root" \
		"fixup=2 $(cksum <"$HERE/checker-valid.sh")"
}

# unpacked KVER STAMP: true if kernels/KVER was unpacked from exactly STAMP.
unpacked() {
	[ "$(cat "$CACHE/kernels/$1/stamp" 2>/dev/null)" = "$(unpack_stamp "$1" "$2")" ]
}

# unpack_debs KVER STAMP DEB...: dpkg -x the DEBs into $CACHE/kernels/KVER/root
# and run depmod there; STAMP records what was unpacked.
unpack_debs() {
	local kver=$1 stamp=$2 dir=$CACHE/kernels/$1 deb
	shift 2
	say "unpacking $kver into $dir" >&2
	rm -rf "$dir"
	mkdir -p "$dir/root"
	for deb in "$@"; do
		dpkg -x "$deb" "$dir/root"
	done
	# merged-/usr images (sid) keep modules in usr/lib/modules
	if [ ! -d "$dir/root/lib/modules/$kver" ] &&
		[ -d "$dir/root/usr/lib/modules/$kver" ]; then
		mkdir -p "$dir/root/lib"
		ln -s ../usr/lib/modules "$dir/root/lib/modules"
	fi
	unpack_fixup "$dir/root"
	depmod -b "$dir/root" "$kver"
	unpack_stamp "$kver" "$stamp" >"$dir/stamp"
}

# unpack_fixup ROOT: make unpacked header packages usable where they are.
# - linux-headers-KVER-FLAVOUR/Makefile includes the -common headers by
#   their absolute path under /usr/src: point it at ROOT/usr/src instead
#   (nothing is written outside the cache; build_chroot mounts ROOT at the
#   same path in the chroot).
# - Since 7.x the kernel's Makefile runs scripts/checker-valid.sh and
#   silently turns C=1 off if it does not print 1; Debian's linux-kbuild
#   packages do not ship it. Ours (checker-valid.sh here) stands in for it.
unpack_fixup() {
	local root=$1 mk scripts
	for mk in "$root"/usr/src/linux-headers-*/Makefile; do
		[ -f "$mk" ] || continue
		sed -i "s#\([ =]\)/usr/src/#\1$root/usr/src/#g" "$mk"
	done
	grep -qs checker-valid.sh "$root"/usr/src/linux-headers-*/Makefile ||
		return 0
	for scripts in "$root"/usr/lib/linux-kbuild-*/scripts; do
		[ -d "$scripts" ] || continue
		[ -e "$scripts/checker-valid.sh" ] && continue
		install -m 755 "$HERE/checker-valid.sh" "$scripts/checker-valid.sh"
	done
}

# kernel_cc: the compiler the kernel was built with, as its headers call it
# (CONFIG_CC_VERSION_TEXT, e.g. "x86_64-linux-gnu-gcc-16"); the headers'
# own settings make kbuild use it.
kernel_cc() {
	local cc
	cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\{0,1\}\([^ "]*\).*/\1/p' \
		"$KDIR/include/config/auto.conf" 2>/dev/null)
	[ -n "$cc" ] || die "cannot tell the compiler of $KVER ($KDIR/include/config/auto.conf)"
	printf '%s\n' "$cc"
}

# kernel_cc_package: the Debian package of that compiler (gcc-16).
kernel_cc_package() {
	local cc
	cc=$(kernel_cc)
	cc=${cc##*-linux-gnu-}
	case $cc in
	gcc-[0-9]* | clang-[0-9]*) printf '%s\n' "$cc" ;;
	*) die "$KVER was built with $cc: which package is that?" ;;
	esac
}

# kbuild_args [C]: the arguments of the module build (run in MODDIR's
# parent's chroot or on the host): warnings (W=1) and sparse (C=1, or C);
# STABLEPIPE_NO_STEAL=1 from the environment (see Kbuild).
kbuild_args() {
	printf '%s\n' -C "$KDIR" M="$MODDIR" W=1 C="${1:-1}" -j"$(nproc)" modules
	[ "${STABLEPIPE_NO_STEAL:-0}" != 1 ] || echo STABLEPIPE_NO_STEAL=1
}

# build_host: build the module against KDIR with the host's compiler (the
# one the kernel was built with, installed if missing).
build_host() {
	local cc cc_pkg args
	cc=$(kernel_cc)
	if ! command -v "$cc" >/dev/null; then
		cc_pkg=$(kernel_cc_package)
		ensure_packages "$cc_pkg"
	fi
	command -v "$cc" >/dev/null ||
		die "$KVER needs $cc, which the host lacks (build it in a chroot: build column chroot)"
	# modules get BTF when the headers have vmlinux: that needs pahole
	[ ! -f "$KDIR/vmlinux" ] || ensure_packages pahole
	mapfile -t args < <(kbuild_args)
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make "${args[@]}"
}

# build_chroot [SUITE]: build the module in a minimal Debian SUITE chroot
# ($CACHE/SUITE-chroot, made with debootstrap the first time) with the
# kernel's compiler, for kernels whose compiler the host lacks. SUITE
# defaults to the kernel's suite without "-backports" and the like.
build_chroot() {
	local suite=${1:-${KSUITE%%-*}} dir args cc_pkg c=1
	case $suite in
	"" | -) die "build_chroot: which suite? (kernels.conf: chroot:SUITE)" ;;
	esac
	[ "$(id -u)" = 0 ] || die "building for $KVER needs root (a chroot)"
	cc_pkg=$(kernel_cc_package)
	[ "$KSPARSE" = - ] || c=0
	dir=$(chroot_for "$suite" "$cc_pkg") || return 1
	mapfile -t args < <(kbuild_args $c)
	in_chroot "$dir" "$KROOT" "$MODDIR" -- make "${args[@]}" || return 1
	[ "$KSPARSE" = - ] && return 0
	# the sparse column: sparse from another suite's chroot (the same
	# compiler, from there), C=2 over the objects just built
	say "sparse from $KSPARSE over the module for $KVER"
	dir=$(chroot_for "$KSPARSE" "$cc_pkg") || return 1
	mapfile -t args < <(kbuild_args 2)
	in_chroot "$dir" "$KROOT" "$MODDIR" -- make "${args[@]}"
}

# chroot_for SUITE CC_PKG: print the path of the SUITE build chroot, made
# or completed with CC_PKG (kernels.conf's build column "chroot").
chroot_for() {
	local dir=$CACHE/$1-chroot
	(
		flock 9
		chroot_prepare "$1" "$dir" "${CHROOT_PACKAGES[@]}" "$2" >&2
	) 9>"$CACHE/.lock" || exit 1
	printf '%s\n' "$dir"
}

# chroot_prepare SUITE DIR PKG...: a SUITE chroot in DIR with PKG...
chroot_prepare() {
	local suite=$1 dir=$2 missing
	shift 2
	if [ ! -d "$dir" ]; then
		ensure_packages debootstrap
		say "creating a $suite chroot in $dir (debootstrap)"
		rm -rf "$dir.new"
		if ! debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" \
			"$suite" "$dir.new" "$(debian_mirror)" >"$dir.log" 2>&1; then
			tail -n 20 "$dir.log"
			die "debootstrap of $suite failed (log: $dir.log)"
		fi
		mv "$dir.new" "$dir"
	fi
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	missing=$({ chroot "$dir" dpkg-query -W \
		-f='${db:Status-Status} ${Package}\n' "$@" 2>&1 || true; } |
		awk '$1 != "installed" { printf "%s ", $NF }')
	[ -z "$missing" ] && return 0
	say "installing ${missing% } in $dir"
	# the host's own apt settings for reaching the mirror (proxies, and
	# date checks turned off for a frozen mirror) apply in there too
	apt-config dump | grep -iE '^Acquire::(Check-Valid-Until|Check-Date|Max-ValidTime|Retries|https?::proxy)' \
		>"$dir/etc/apt/apt.conf.d/99stablepipe-host" || true
	if ! in_chroot "$dir" -- apt-get -q update ||
		! in_chroot "$dir" -- env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "$@"; then
		die "cannot install ${missing% } in $dir"
	fi
}

# in_chroot DIR [PATH...] -- COMMAND...: run COMMAND in the chroot DIR with
# /proc, /dev and each PATH (bind-mounted at the same path) in a private
# mount namespace: the mounts go away with it, whatever happens.
in_chroot() {
	local dir=$1 binds=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		binds+=("$1")
		shift
	done
	shift
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- bash -euc '
		dir=$1 n=$2
		shift 2
		mount -t proc proc "$dir/proc"
		mount --bind /dev "$dir/dev"
		while [ "$n" -gt 0 ]; do
			mkdir -p "$dir$1"
			mount --bind "$1" "$dir$1"
			shift
			n=$((n - 1))
		done
		exec chroot "$dir" /usr/bin/env -i HOME=/root LC_ALL=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' in_chroot "$dir" ${#binds[@]} "${binds[@]}" "$@"
}

# fetch_debug SUITE FLAVOUR: the debug kernel (KASAN, lockdep, kmemleak,
# fault injection) that debug-kernel.sh builds from the host's
# linux-source-6.1 with debug.config, once, into $CACHE/debug-kernel
# (SUITE and FLAVOUR are unused). `make check-debug` (check-debug.sh) uses
# it through kernels-debug.conf.
fetch_debug() {
	local vars
	vars=$(STABLEPIPE_CACHE=$CACHE "$HERE/debug-kernel.sh" --print) ||
		die "building the debug kernel failed (selftests/vm/debug-kernel.sh)"
	eval "$vars"
}
