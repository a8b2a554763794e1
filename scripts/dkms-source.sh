#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: scripts/dkms-source.sh DEST [--no-conf]
#
# Copy the DKMS source set (what `make module` needs) to DEST, with
# dkms.conf's #MODULE_VERSION# replaced by the VERSION file.  --no-conf
# leaves dkms.conf out (dh_dkms installs it).  Used by `make dkms-install`,
# debian/rules and scripts/dkms-test.sh, so the three ship the same files.
set -eu
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
[ $# -ge 1 ] || die "usage: $0 DEST [--no-conf]"
dkms_source "$@"
