# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers shared by scripts/*.sh (sourced): KTAP output, package
# installation, the project's version and the DKMS source set.

SP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SP_VERSION=$(cat "$SP_REPO/VERSION")
# shellcheck disable=SC2034 # used by the scripts that source this
SP_CACHE=${STABLEPIPE_CACHE:-/var/cache/stablepipe}

say()  { printf '# %s\n' "$*"; }
die()  { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# ---- KTAP ------------------------------------------------------------------
# ktap_plan N; then ok NAME / not_ok NAME / skip NAME WHY; ktap_end exits
# 0 when nothing failed, 1 otherwise.
KTAP_N=0
KTAP_FAIL=0
KTAP_PASS=0
KTAP_SKIP=0
ktap_plan() { echo "KTAP version 1"; echo "1..$1"; }
ok()     { KTAP_N=$((KTAP_N + 1)); KTAP_PASS=$((KTAP_PASS + 1)); echo "ok $KTAP_N $*"; }
not_ok() { KTAP_N=$((KTAP_N + 1)); KTAP_FAIL=$((KTAP_FAIL + 1)); echo "not ok $KTAP_N $*"; }
skip()   { local n=$1; shift; KTAP_N=$((KTAP_N + 1)); KTAP_SKIP=$((KTAP_SKIP + 1)); echo "ok $KTAP_N $n # SKIP $*"; }
# check NAME CMD...: ok if CMD succeeds
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n"; fi; }
# diag: stdin as KTAP diagnostics
diag()   { sed 's/^/# /'; }
ktap_end() {
	echo "# totals: pass:$KTAP_PASS fail:$KTAP_FAIL skip:$KTAP_SKIP"
	[ "$KTAP_FAIL" -eq 0 ]
}

# ---- packages ----------------------------------------------------------------
# shellcheck source-path=SCRIPTDIR source=packages.sh
. "$SP_REPO/scripts/packages.sh"

# headers_kver: the kernel release whose headers linux-headers-amd64 installs
# (Debian 12: 6.1.0-N-amd64), or $STABLEPIPE_KVER when set.
headers_kver() {
	if [ -n "${STABLEPIPE_KVER:-}" ]; then
		echo "$STABLEPIPE_KVER"
		return
	fi
	dpkg-query -W -f='${Depends}\n' linux-headers-amd64 2>/dev/null |
		tr ',' '\n' | sed -n 's/^ *linux-headers-\([^ ]*\).*/\1/p' | head -n1
}

# ---- copies of the tree -----------------------------------------------------
# copy_sources DEST [PATH...]: copy the files under PATH... (default: all)
# that git tracks or would track (so no build output), else everything but
# build/, to DEST.  Needs cpio in a git tree.
copy_sources() {
	local dest=$1
	shift
	mkdir -p "$dest"
	if git -C "$SP_REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$SP_REPO" &&
		 git ls-files -z -c -o --exclude-standard -- "$@" |
		 while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		 done | cpio -0 -pdm --quiet "$dest")
	else
		tar -C "$SP_REPO" --exclude=./build -cf - "${@:-.}" |
			tar -C "$dest" -xf -
	fi
}

# ---- the DKMS source set -------------------------------------------------------
# What /usr/src/stablepipe-VERSION holds: what `make module` needs.  DKMS
# runs the top-level Makefile, so every makefile it includes (packaging.mk,
# bench.mk, ...) comes along: a missing one would stop make before it
# reaches the module.
# (packaging.mk also has module-clean, dkms.conf's CLEAN.)
sp_dkms_files() {
	local f
	{
		printf '%s\n' Kbuild Makefile packaging.mk VERSION uapi/linux/stablepipe.h
		sed -n 's/^-\{0,1\}include[[:space:]]\{1,\}//p' "$SP_REPO/Makefile" |
			tr -s '[:blank:]' '\n'
	} | sort -u | while read -r f; do
		[ -n "$f" ] && [ -f "$SP_REPO/$f" ] && echo "$f"
	done
}

# dkms_source DEST [--no-conf]: copy the DKMS source set to DEST, with
# dkms.conf's #MODULE_VERSION# replaced by VERSION (unless --no-conf:
# dh_dkms installs dkms.conf itself).
dkms_source() {
	local dest=$1 f
	mkdir -p "$dest/module" "$dest/uapi/linux"
	for f in $(sp_dkms_files); do
		mkdir -p "$dest/$(dirname "$f")"
		cp -p "$SP_REPO/$f" "$dest/$f"
	done
	cp -p "$SP_REPO"/module/*.c "$SP_REPO"/module/*.h "$dest/module/"
	if [ "${2:-}" != --no-conf ]; then
		sed "s/#MODULE_VERSION#/$SP_VERSION/g" "$SP_REPO/dkms.conf" \
			>"$dest/dkms.conf"
	fi
}
