#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: scripts/deb.sh             (`make deb`)
#
# Builds build/deb/stablepipe-dkms_VERSION_all.deb (the module's sources,
# dkms.conf, /usr/lib/modules-load.d/stablepipe.conf) and
# build/deb/stablepipe-tools_VERSION_ARCH.deb (the programs of
# `make -s -C userspace list-bins`, <linux/stablepipe.h>, <stablepipe2.h>
# and the manual pages) with debhelper and dh-dkms.
#
# The tree (tracked and untracked files that git does not ignore) is copied
# to build/deb/stablepipe-VERSION/, where debian/changelog is written with
# VERSION as the package version: VERSION stays the only version there is.
# Missing build dependencies are installed with apt-get (as root).  If
# lintian is installed, its findings are printed (they do not fail the
# build).
set -eu -o pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

OUT=$SP_REPO/build/deb
STAGE=$OUT/stablepipe-$SP_VERSION
ensure_packages build-essential debhelper dh-dkms dpkg-dev cpio

rm -rf "$OUT"
mkdir -p "$STAGE"
copy_sources "$STAGE"
if git -C "$SP_REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	when=$(git -C "$SP_REPO" log -1 --format=%cD)
	what="git $(git -C "$SP_REPO" describe --always --dirty)"
else
	when=$(date -R)
	what="a source tree"
fi

cat >"$STAGE/debian/changelog" <<END
stablepipe ($SP_VERSION) unstable; urgency=medium

  * Built by make deb from $what.

 -- The stablepipe developers <stablepipe@example.org>  $when
END

say "dpkg-buildpackage -b in $STAGE (log: $OUT/build.log)"
if ! (cd "$STAGE" && dpkg-buildpackage -b -us -uc) >"$OUT/build.log" 2>&1; then
	tail -n 40 "$OUT/build.log" >&2
	die "dpkg-buildpackage failed; see $OUT/build.log"
fi

for deb in "$OUT"/*.deb; do
	say "${deb#"$SP_REPO"/}:"
	dpkg-deb -c "$deb" | awk '{print "#    " $6}' | grep -v '/$'
done
if command -v lintian >/dev/null; then
	say "lintian:"
	lintian --no-tag-display-limit "$OUT"/*.changes 2>&1 | diag || true
fi
ls "$OUT"/stablepipe-dkms_*.deb "$OUT"/stablepipe-tools_*.deb
