# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Installing the host packages a script needs (sourced by scripts/common.sh
# and selftests/vm/lib.sh, which provide say and die).  Every apt-get call
# on the host goes through apt_host: one at a time among the project's own
# scripts (make test runs steps in parallel), and waiting for the dpkg lock
# that others (unattended-upgrades) may hold instead of failing.

SP_APT_LOCK=${SP_APT_LOCK:-/run/lock/stablepipe-apt.lock}

is_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# apt_host ARG...: apt-get ARG... on the host, under the project's lock and
# with a 10-minute wait for dpkg's.
apt_host() {
	flock -w 1200 "$SP_APT_LOCK" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# ensure_packages PKG...: apt-get install whichever is missing (as root),
# after an apt-get update.
ensure_packages() {
	local p missing=()
	for p in "$@"; do
		is_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] ||
		die "missing packages (run as root, or install them): ${missing[*]}"
	say "installing ${missing[*]}"
	apt_host -q update >/dev/null || die "apt-get update failed"
	apt_host -q -y install --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}
