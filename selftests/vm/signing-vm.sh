#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The signed-module test, in the VM (init.sh runs it for MODE=signing; the
# host side is signing.sh). The debug kernel trusts one test key, in the
# place of a key enrolled with mokutil. /signing holds three builds of the
# module, each installed in turn where DKMS installs it and loaded with
# kmod's modprobe, as on a real machine:
#   signed.ko    built by DKMS, which signed it with the test key
#   unsigned.ko  the same file without its signature (like `make module`'s)
#   otherkey.ko  the same file signed with a key the kernel does not
#                trust: a DKMS key that was never enrolled
# and "signer" and "serial", the test key's subject and serial number. Three stages, in one boot:
#   1. nothing enforced (Secure Boot off): the unsigned module loads and
#      taints the kernel;
#   2. lockdown=integrity, set through securityfs: what Debian's kernel
#      sets at boot under Secure Boot;
#   3. module.sig_enforce on (/sys/module/module/parameters/sig_enforce,
#      the parameter of that name on the command line).
# In 2 and 3 the DKMS-signed module loads, without E, and the other two
# are refused, each with the messages Documentation/secure-boot.rst quotes.
# KTAP on stdout; what each command and the kernel said as "# said: " and
# "# dmesg: " lines.
DIR=/signing
KVER=$(uname -r)
DEST=/lib/modules/$KVER/updates/dkms
TREE=/tmp/tree
PARAM=/sys/module/module/parameters/sig_enforce
LOCKDOWN=/sys/kernel/security/lockdown
PLAN=36
N=0
NOT_OK=0

ok() { N=$((N + 1)); echo "ok $N $*"; }
not_ok() { N=$((N + 1)); NOT_OK=$((NOT_OK + 1)); echo "not ok $N $*"; }
# check NAME CMD...: ok if CMD succeeds
check() { n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n"; fi; }

# kmod's tools, as on a real machine: busybox has applets of these names,
# with other messages, which its sh runs whatever PATH says
mkdir -p /kmod/bin
for t in modprobe modinfo depmod insmod rmmod; do
	ln -sf /kmod/kmod "/kmod/bin/$t"
done
modprobe() { /kmod/bin/modprobe "$@"; }
modinfo() { /kmod/bin/modinfo "$@"; }
depmod() { /kmod/bin/depmod "$@"; }
insmod() { /kmod/bin/insmod "$@"; }
rmmod() { /kmod/bin/rmmod "$@"; }

loaded() { grep -q '^stablepipe ' /proc/modules; }

# load HOW NAME: load NAME.ko; HOW is modprobe (from where `dkms install`
# puts it) or insmod (stablepipe.ko in the current directory, as after
# `make module`). Sets SAID (its messages), RC and LOG (the kernel's).
load() {
	dmesg -c >/dev/null
	if [ "$1" = modprobe ]; then
		cp "$DIR/$2.ko" "$DEST/stablepipe.ko"
		SAID=$(modprobe stablepipe 2>&1)
	else
		cp "$DIR/$2.ko" "$TREE/stablepipe.ko"
		SAID=$(cd "$TREE" && insmod stablepipe.ko 2>&1)
	fi
	RC=$?
	LOG=$(dmesg -c)
	[ -z "$SAID" ] || echo "# said: $SAID"
	echo "$LOG" | grep -v '^$' | sed 's/^/# dmesg: /'
}

# dmesg_says WHAT: the kernel's messages of the last load contain WHAT.
dmesg_says() { echo "$LOG" | grep -qF "$1"; }

# refused HOW NAME WANT_SAID WANT_DMESG: loading NAME.ko fails, HOW says
# WANT_SAID, and the kernel logs a line that contains WANT_DMESG.
refused() {
	load "$1" "$2"
	if [ $RC -ne 0 ] && ! loaded; then
		ok "$2.ko: $1 refuses it"
	else
		not_ok "$2.ko: $1 refuses it (exit $RC)"
		loaded && rmmod stablepipe
	fi
	check "$2.ko: $1 says \"$3\"" [ "$SAID" = "$3" ]
	check "$2.ko: dmesg says \"$4\"" dmesg_says "$4"
}

# accepted: the DKMS-signed module loads, without E, and unloads.
accepted() {
	load modprobe signed
	check "signed.ko: modprobe loads it" [ $RC = 0 ]
	# O: out of tree; no E (TAINT_UNSIGNED_MODULE, which the kernel
	# itself carries since stage 1)
	taint=$(cat /sys/module/stablepipe/taint 2>/dev/null || echo '(not loaded)')
	check "signed.ko: its taint is O, no E (got '$taint')" [ "$taint" = O ]
	check "signed.ko: /dev/stablepipe exists" [ -c /dev/stablepipe ]
	check "signed.ko: modprobe -r unloads it" modprobe -r stablepipe
}

mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p "$DEST" "$TREE"
# modules.dep names DEST/stablepipe.ko (load() swaps the file under that
# name); modules.order, modules.builtin...: from the image (signing.sh)
cp "$DIR/signed.ko" "$DEST/stablepipe.ko"
depmod -a 2>&1 | sed 's/^/# depmod: /'

echo "TAP version 13"
echo "1..$PLAN"
signer=$(cat "$DIR/signer")
check "modinfo -F signer of signed.ko: $signer" \
	[ "$(modinfo -F signer "$DIR/signed.ko")" = "$signer" ]
serial=$(cat "$DIR/serial")
check "modinfo -F sig_key of signed.ko: the test key's serial, $serial" \
	[ "$(modinfo -F sig_key "$DIR/signed.ko" | tr -d ':\n')" = "$serial" ]
check "modinfo -F sig_hashalgo of signed.ko: sha256" \
	[ "$(modinfo -F sig_hashalgo "$DIR/signed.ko")" = sha256 ]
check "modinfo -F signer of unsigned.ko: none" \
	[ -z "$(modinfo -F signer "$DIR/unsigned.ko")" ]
check "modinfo -F signer of otherkey.ko: DKMS module signing key" \
	[ "$(modinfo -F signer "$DIR/otherkey.ko")" = "DKMS module signing key" ]

echo "# 1. nothing enforced; lockdown: $(cat $LOCKDOWN), sig_enforce: $(cat $PARAM)"
check "lockdown is none" grep -q '\[none\]' $LOCKDOWN
check "sig_enforce is off" [ "$(cat $PARAM)" = N ]
load modprobe unsigned
check "unsigned.ko: modprobe loads it" [ $RC = 0 ]
msg="stablepipe: module verification failed: signature and/or required key missing - tainting kernel"
check "unsigned.ko: dmesg says \"$msg\"" dmesg_says "$msg"
taint=$(cat /sys/module/stablepipe/taint 2>/dev/null)
check "unsigned.ko: its taint is OE, out of tree and unsigned (got '$taint')" \
	[ "$taint" = OE ]
check "unsigned.ko: modprobe -r unloads it" modprobe -r stablepipe

echo integrity >$LOCKDOWN
echo "# 2. lockdown: $(cat $LOCKDOWN), sig_enforce: $(cat $PARAM)"
dmesg -c | sed 's/^/# dmesg: /'
check "lockdown is integrity, as under Secure Boot" \
	grep -q '\[integrity\]' $LOCKDOWN
said="modprobe: ERROR: could not insert 'stablepipe': Operation not permitted"
msg="Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7"
refused modprobe unsigned "$said" "$msg"
refused insmod unsigned \
	"insmod: ERROR: could not insert module stablepipe.ko: Operation not permitted" \
	"Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7"
refused modprobe otherkey "$said" "$msg"
accepted

echo 1 >$PARAM
echo "# 3. lockdown: $(cat $LOCKDOWN), sig_enforce: $(cat $PARAM)"
check "sig_enforce is on" [ "$(cat $PARAM)" = Y ]
said="modprobe: ERROR: could not insert 'stablepipe': Key was rejected by service"
refused modprobe unsigned "$said" "Loading of unsigned module is rejected"
refused modprobe otherkey "$said" \
	"Loading of module with unavailable key is rejected"
accepted

[ "$N" = "$PLAN" ] || echo "# signing-vm.sh: planned $PLAN results, gave $N"
[ "$N" = "$PLAN" ] && [ "$NOT_OK" = 0 ]
