# shellcheck shell=bash
# Helpers shared by the stablepipe VM harness (sourced by check.sh).

say()  { printf '==> %s\n' "$*"; }
warn() { printf 'check.sh: warning: %s\n' "$*" >&2; }
die()  { printf 'check.sh: error: %s\n' "$*" >&2; exit 1; }

# is_installed PKG: true if the Debian package PKG is installed.
is_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# ensure_packages PKG...: apt-get install whichever of PKG... is missing.
# apt-get update runs only when something is missing.
ensure_packages() {
	local p missing=()
	for p in "$@"; do
		is_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] ||
		die "missing packages (run as root, or install them): ${missing[*]}"
	say "installing ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
}

# copy_binary SRC DESTROOT DEST: copy the program SRC to DESTROOT/DEST and,
# if it is dynamically linked, the loader and libraries it needs.
copy_binary() {
	local src=$1 root=$2 dst=$3 lib
	mkdir -p "$root/$(dirname "$dst")"
	cp -L "$src" "$root/$dst"
	chmod +x "$root/$dst"
	ldd "$src" >/dev/null 2>&1 || return 0	# static, or a script
	for lib in $(ldd "$src" | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
