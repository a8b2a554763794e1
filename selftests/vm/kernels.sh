# shellcheck shell=bash
# Kernel selection and fetching for the stablepipe VM harness (sourced by
# check.sh). See kernels.conf for the table of kernels.
#
# kernel_select NAME reads the line NAME of kernels.conf and runs its
# fetch_<fetch> SUITE FLAVOUR, which must set:
#   KVER   the kernel release (uname -r), e.g. 6.1.0-56-amd64
#   KDIR   a kernel build tree (the headers) to build the module against
#   KROOT  an unpacked image: KROOT/boot/vmlinuz-KVER and
#          KROOT/lib/modules/KVER with modules.dep (see unpack_debs)
# and sets KBUILD to the line's build function, build_<build>, which builds
# the module against KDIR (see build_host).
# Everything downloaded or unpacked lives in $CACHE (debs/, kernels/KVER/).

KERNELS_CONF=${KERNELS_CONF:-$(dirname "${BASH_SOURCE[0]}")/kernels.conf}

kernel_select() {
	local name=$1 line fetch suite flavour build
	line=$(awk -v k="$name" '$1 == k && $1 !~ /^#/' "$KERNELS_CONF")
	[ -n "$line" ] || die "KERNEL=$name is not in $KERNELS_CONF (known: $(
		awk '!/^#/ && NF { printf "%s ", $1 }' "$KERNELS_CONF"))"
	read -r _ fetch suite flavour build <<<"$line"
	declare -F "fetch_$fetch" >/dev/null ||
		die "kernels.conf: KERNEL=$name: no function fetch_$fetch in kernels.sh"
	declare -F "build_$build" >/dev/null ||
		die "kernels.conf: KERNEL=$name: no function build_$build in kernels.sh"
	KBUILD=build_$build
	if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
		die "cache $CACHE is not writable (set STABLEPIPE_CACHE=DIR)"
	fi
	(
		flock 9	# one fetch at a time per cache
		"fetch_$fetch" "$suite" "$flavour"
		printf 'KVER=%q KDIR=%q KROOT=%q\n' "$KVER" "$KDIR" "$KROOT" \
			>"$CACHE/.selected.$$"
	) 9>"$CACHE/.lock"
	# shellcheck disable=SC1090
	. "$CACHE/.selected.$$"
	rm -f "$CACHE/.selected.$$"
	case $KVER in
	"$name".*) ;;
	*) die "KERNEL=$name resolved to kernel $KVER" ;;
	esac
	[ -f "$KDIR/Makefile" ] || die "no kernel headers in $KDIR"
	[ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "no $KROOT/boot/vmlinuz-$KVER"
}

# fetch_installed SUITE FLAVOUR: the kernel of the host's installed
# linux-headers-FLAVOUR meta package (SUITE is unused: the host's sources).
fetch_installed() {
	local flavour=$2 meta=linux-headers-$2 pkg ver
	ensure_packages "$meta"
	pkg=$(dpkg-query -W -f='${Depends}' "$meta" |
		grep -o "linux-headers-[0-9][^ ,]*-$flavour" | head -n1)
	[ -n "$pkg" ] || die "cannot tell which kernel $meta depends on"
	is_installed "$pkg" || die "$pkg is not installed"
	KVER=${pkg#linux-headers-}
	KDIR=/usr/src/linux-headers-$KVER
	ver=$(dpkg-query -W -f='${Version}' "$pkg")
	KROOT=$CACHE/kernels/$KVER/root
	if ! unpacked "$KVER" "linux-image-$KVER=$ver"; then
		unpack_debs "$KVER" "linux-image-$KVER=$ver" \
			"$(download_deb "linux-image-$KVER" "$ver")"
	fi
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
			apt-get -q "$@" update >&2
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

# unpacked KVER STAMP: true if kernels/KVER was unpacked from exactly STAMP.
unpacked() {
	[ "$(cat "$CACHE/kernels/$1/stamp" 2>/dev/null)" = "$2" ]
}

# unpack_debs KVER STAMP DEB...: dpkg -x the DEBs into $CACHE/kernels/KVER/root
# and run depmod there; STAMP records what was unpacked.
unpack_debs() {
	local kver=$1 stamp=$2 dir=$CACHE/kernels/$1 deb
	shift 2
	say "unpacking $kver into $dir"
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
	depmod -b "$dir/root" "$kver"
	printf '%s\n' "$stamp" >"$dir/stamp"
}

# build_host: build the module against KDIR with the host's compiler.
build_host() {
	make -C "$REPO" module KDIR="$KDIR"
}
