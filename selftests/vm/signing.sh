# shellcheck shell=bash
# The signed-module test, host side (sourced by check.sh; `check.sh
# --signing`, `make check-signing`): what a Secure Boot machine does with
# the module DKMS builds, on the debug kernel of debug-kernel.sh, which
# trusts one test key (KEY/signing/, in the place of a key enrolled with
# mokutil). DKMS builds the module against that kernel and signs it with
# that key, as it signs with /var/lib/dkms/mok.key on a real machine; two
# copies are made, one with the signature removed, one signed with a key
# the kernel does not trust. The VM tries them all, with nothing enforced,
# then under lockdown, then with module.sig_enforce (signing-vm.sh), in
# one boot. Afterwards every message the VM's results quote must also be
# quoted in Documentation/secure-boot.rst.
#
# Nothing outside build/ changes: dkms runs on scratch trees (--sourcetree,
# --dkmstree, --installtree under VM_OUT/KVER/dkms, --no-depmod), so
# /var/lib/dkms and the host's /lib/modules are left alone.

SIGNING_DOC=Documentation/secure-boot.rst

# signing_settings: the kernel, filesystems and command line of the test;
# before kernel_select.
signing_settings() {
	# shellcheck disable=SC2034 # check.sh's and kernels.sh's settings
	KERNELS_CONF=$HERE/kernels-debug.conf KERNEL=debug
	# no scratch disk: the test loads the module and nothing else
	# shellcheck disable=SC2034
	FS=tmpfs TOOLS_FS=tmpfs
	# the RCU stall timeout as check-debug.sh sets it (TCG, KASAN)
	VM_APPEND="${VM_APPEND:+$VM_APPEND }rcupdate.rcu_cpu_stall_timeout=120"
}

# signing_dkms WORK KEYDIR: dkms add, build and install the module for
# KVER against KDIR in scratch trees under WORK, signing with KEYDIR's
# mok.key and mok.pub; prints the installed module's path.
signing_dkms() {
	local work=$1 keydir=$2 v ko
	v=$(cat "$REPO/VERSION")
	rm -rf "$work"
	mkdir -p "$work/src" "$work/dkms" "$work/lib/$KVER"
	(
		# shellcheck source-path=SCRIPTDIR source=../../scripts/common.sh
		. "$REPO/scripts/common.sh"
		dkms_source "$work/src/stablepipe-$v"
	) || die "could not copy the DKMS source set"
	sp_dkms() {
		# sign_file: the kernel build tree's own (dkms's default on
		# Debian is /usr/lib/linux-kbuild-6.1/scripts/sign-file)
		sign_file=$KDIR/scripts/sign-file \
		mok_signing_key=$keydir/mok.key mok_certificate=$keydir/mok.pub \
		dkms --sourcetree "$work/src" --dkmstree "$work/dkms" \
			--installtree "$work/lib" --no-depmod \
			--kernelsourcedir "$KDIR" "$@" >>"$work/dkms.log" 2>&1
	}
	if ! { sp_dkms add -m stablepipe -v "$v" &&
		sp_dkms build -m stablepipe -v "$v" -k "$KVER" &&
		sp_dkms install -m stablepipe -v "$v" -k "$KVER"; }; then
		tail -n 30 "$work/dkms.log" >&2
		die "dkms failed for $KVER (log: $work/dkms.log)"
	fi
	grep -q "^Signing module " "$work/dkms.log" ||
		die "dkms did not sign the module (log: $work/dkms.log)"
	ko=$work/lib/$KVER/updates/dkms/stablepipe.ko
	[ -f "$ko" ] || die "dkms install made no $ko"
	printf '%s\n' "$ko"
}

# strip_signature IN OUT: IN without its appended signature: the module,
# then the PKCS#7 message, struct module_signature (12 bytes, its last 4
# the message's length, big-endian) and "~Module signature appended~\n"
# (28 bytes).
strip_signature() {
	local in=$1 out=$2 size siglen
	size=$(stat -c %s "$in")
	[ "$(tail -c 28 "$in")" = "~Module signature appended~" ] ||
		die "$in carries no signature"
	siglen=$(tail -c 32 "$in" | head -c 4 | od -An -tu1 |
		awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
	head -c $((size - 40 - siglen)) "$in" >"$out"
}

# signing_prepare: the module builds of the test, the VM's tools, and
# signing-vm.sh, into INITRAMFS_FILES.
signing_prepare() {
	local keydir dir ko f
	keydir=$(dirname "$KDIR")/signing
	for f in mok.key mok.pub; do
		[ -f "$keydir/$f" ] || die "no $keydir/$f: the debug kernel predates the test key (remove it to rebuild)"
	done
	ensure_packages dkms openssl kmod
	dir=$BUILD/signing
	rm -rf "$dir"
	mkdir -p "$dir/other"
	say "DKMS: building and signing the module for $KVER (log: $BUILD/dkms/dkms.log)"
	ko=$(signing_dkms "$BUILD/dkms" "$keydir")
	cp "$ko" "$dir/signed.ko"
	strip_signature "$dir/signed.ko" "$dir/unsigned.ko"
	# a key made as DKMS makes /var/lib/dkms/mok.key on first use, and
	# never enrolled
	openssl req -new -x509 -nodes -days 36500 \
		-subj "/CN=DKMS module signing key" -newkey rsa:2048 \
		-keyout "$dir/other/mok.key" -outform DER \
		-out "$dir/other/mok.pub" >/dev/null 2>&1 ||
		die "openssl req could not make a key"
	cp "$dir/unsigned.ko" "$dir/otherkey.ko"
	"$KDIR/scripts/sign-file" sha256 "$dir/other/mok.key" \
		"$dir/other/mok.pub" "$dir/otherkey.ko" ||
		die "sign-file failed"
	openssl x509 -inform DER -in "$keydir/mok.pub" -noout -subject \
		-nameopt multiline | sed -n 's/^ *commonName *= //p' >"$dir/signer"
	openssl x509 -inform DER -in "$keydir/mok.pub" -noout -serial |
		sed 's/^serial=//' >"$dir/serial"
	say "signed by: $(modinfo -F signer "$dir/signed.ko") (test key: $(cat "$dir/signer"))"
	for f in signed.ko unsigned.ko otherkey.ko signer serial; do
		INITRAMFS_FILES+=("$dir/$f|signing/$f")
	done
	INITRAMFS_FILES+=("$HERE/signing-vm.sh|bin/signing-vm.sh")
	INITRAMFS_FILES+=("$(command -v kmod)|kmod/kmod")
	# modules.order, modules.builtin...: what depmod and modprobe read
	for f in "$KROOT/lib/modules/$KVER"/modules.*; do
		INITRAMFS_FILES+=("$f|lib/modules/$KVER/${f##*/}")
	done
}

# signing_check_docs: each message a passing result quotes ('modprobe
# says "..."', 'insmod says', 'dmesg says') is in SIGNING_DOC, word for
# word.
signing_check_docs() {
	local msg missing=0
	while IFS= read -r msg; do
		if grep -qF -- "$msg" "$REPO/$SIGNING_DOC"; then
			EXTRA_PASS=$((EXTRA_PASS + 1))
		else
			extra_fail "$SIGNING_DOC does not quote the VM's message: $msg"
			missing=1
		fi
	done < <(tr -d '\r' <"$RESULTS_LOG" |
		sed -n 's/^ok [0-9]* [a-z]*\.ko: \(modprobe\|insmod\|dmesg\) says "\(.*\)"$/\2/p' |
		sort -u)
	if [ $missing = 0 ]; then
		say "$SIGNING_DOC quotes the VM's messages"
	fi
}
