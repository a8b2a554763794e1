# shellcheck shell=bash
# Initramfs for the stablepipe test VM (sourced by check.sh).

# Kernel modules the VM loads, in this order, with their dependencies
# (resolved by modprobe --show-depends in the unpacked image). A name ending
# in "?" is loaded only if the kernel has it (crc32c and crc16 are crypto or
# library modules that xfs and ext4 look up by name on older kernels; newer
# ones have no such modules).
VM_MODULES="virtio_pci virtio_blk crc32c_generic? crc32c-intel? libcrc32c?
xfs crc16? ext4"

# initramfs_build OUT ROOTDIR: build the initramfs OUT from a tree assembled
# in ROOTDIR. Uses KVER, KROOT (kernels.sh), HERE (this directory), and the
# array INITRAMFS_FILES ("SRC|DEST" pairs: programs, copied with the
# libraries they need) and the file CONF (copied to /etc/stablepipe.conf).
initramfs_build() {
	local out=$1 root=$2 pair
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp,root,usr,lib/modules} \
		"$root"/mnt/{xfs,ext4,tmpfs}
	ln -s bin "$root/sbin"
	ln -s ../bin "$root/usr/bin"
	ln -s ../bin "$root/usr/sbin"
	initramfs_busybox "$root"
	initramfs_modules "$root"
	cp "$HERE/init.sh" "$root/init"
	cp "$HERE/lifecycle.sh" "$root/bin/lifecycle.sh"
	chmod +x "$root/init" "$root/bin/lifecycle.sh"
	cp "$CONF" "$root/etc/stablepipe.conf"
	for pair in "${INITRAMFS_FILES[@]}"; do
		copy_binary "${pair%%|*}" "$root" "${pair#*|}"
	done
	(cd "$root" && find . | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out"
}

initramfs_busybox() {
	local root=$1 bb applet
	bb=$(command -v busybox) || die "busybox not found"
	copy_binary "$bb" "$root" bin/busybox
	for applet in $("$root/bin/busybox" --list); do
		[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
	done
}

# initramfs_modules ROOT: copy VM_MODULES and their dependencies, in load
# order, to ROOT/lib/modules (uncompressed) and list them in
# ROOT/etc/modules.load for init.sh.
initramfs_modules() {
	local root=$1 m mods path name seen=" "
	: >"$root/etc/modules.load"
	read -r -d '' -a mods <<<"$VM_MODULES" || true	# no globbing of "?"
	for m in "${mods[@]}"; do
		case $m in
		*\?)
			modprobe -S "$KVER" -d "$KROOT" --show-depends "${m%\?}" \
				2>/dev/null || true
			;;
		*)
			modprobe -S "$KVER" -d "$KROOT" --show-depends "$m" ||
				die "module $m not found for $KVER"
			;;
		esac
	done | while read -r kind path _; do
		[ "$kind" = insmod ] || continue	# "builtin NAME"
		name=$(basename "$path")
		name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
		case $seen in *" $name "*) continue ;; esac
		seen="$seen$name "
		case $path in
		*.xz) xz -dc "$path" ;;
		*.zst) zstd -qdc "$path" ;;
		*.gz) gzip -dc "$path" ;;
		*) cat "$path" ;;
		esac >"$root/lib/modules/$name"
		echo "$name" >>"$root/etc/modules.load"
	done
}
