# shellcheck shell=bash
# Helpers shared by the stablepipe VM harness (sourced by check.sh).

say()  { printf '==> %s\n' "$*"; }
warn() { printf 'check.sh: warning: %s\n' "$*" >&2; }
die()  { printf 'check.sh: error: %s\n' "$*" >&2; exit 1; }

# is_installed, ensure_packages, apt_host
# shellcheck source-path=SCRIPTDIR source=../../scripts/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/packages.sh"

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
