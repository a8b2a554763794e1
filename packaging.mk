# SPDX-License-Identifier: GPL-2.0
#
# Packaging and hygiene targets; the top-level Makefile includes this file.
# It is also part of the DKMS source (/usr/src/stablepipe-VERSION), where
# only module-clean is used: keep it free of parse-time side effects.
#
# make dkms-install [DKMS_KVER=KVER]
#                      copy the module's sources to /usr/src/stablepipe-VERSION,
#                      dkms add, build and install it (for the running kernel,
#                      or KVER), and load it at boot (/etc/modules-load.d)
# make dkms-uninstall  dkms remove it from every kernel, and undo the rest
# make dkms-test       CI: dkms add/build/install/modinfo/remove against the
#                      Debian 12 headers, in scratch DKMS trees (KTAP)
# make deb             build/deb/stablepipe-dkms_VERSION_all.deb and
#                      build/deb/stablepipe-tools_VERSION_ARCH.deb
# make deb-test        make deb, then install both in a clean Debian 12
#                      chroot (KTAP)
# make lint            checkpatch, sparse, uapi, -Werror, i386 (the tools
#                      with gcc -m32, diskbuffer's local tests), cppcheck,
#                      docutils, kernel-doc, mandoc, versions, shellcheck
#                      (KTAP)
# make packaging-check lint, dkms-test and deb-test (with deb), all of them even
#                      when one fails; fails if any did
# make module-clean    the kernel's clean of the module only (DKMS CLEAN)
# make check-version   dkms.conf, Kbuild and VERSION agree
#
# None of these loads the module.

# Leave the includer's default goal alone, wherever the include line is.
sp_saved_goal := $(.DEFAULT_GOAL)

SP_TOP := $(dir $(lastword $(MAKEFILE_LIST)))
SP_VERSION := $(shell cat $(SP_TOP)VERSION 2>/dev/null)
SP_SRCDIR := /usr/src/stablepipe-$(SP_VERSION)
SP_MODLOAD := /etc/modules-load.d/stablepipe.conf
DKMS_KVER ?=

module-clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

check-version:
	@grep -qx '[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*' $(SP_TOP)VERSION || \
		{ echo "VERSION: not MAJOR.MINOR.PATCH: $(SP_VERSION)"; exit 1; }
	@grep -qx 'PACKAGE_VERSION="#MODULE_VERSION#"' $(SP_TOP)dkms.conf || \
		{ echo "dkms.conf: PACKAGE_VERSION must be \"#MODULE_VERSION#\" (filled from VERSION)"; exit 1; }
	@grep -q 'STABLEPIPE_VERSION=.*cat $$(src)/VERSION' $(SP_TOP)Kbuild || \
		{ echo "Kbuild: STABLEPIPE_VERSION does not come from VERSION"; exit 1; }
	@echo "version $(SP_VERSION): VERSION, dkms.conf and Kbuild agree"

dkms-install:
	@[ "$$(id -u)" = 0 ] || { echo "dkms-install: run as root" >&2; exit 1; }
	@command -v dkms >/dev/null || \
		{ echo "dkms-install: no dkms; apt-get install dkms" >&2; exit 1; }
	@if dpkg -S $(SP_SRCDIR) >/dev/null 2>&1; then \
		echo "dkms-install: $(SP_SRCDIR) belongs to a package (stablepipe-dkms);" \
		     "remove that first" >&2; exit 1; fi
	@if [ -n "$$(dkms status -m stablepipe -v $(SP_VERSION))" ]; then \
		echo "dkms remove stablepipe/$(SP_VERSION) --all"; \
		dkms remove -m stablepipe -v $(SP_VERSION) --all; fi
	rm -rf $(SP_SRCDIR)
	$(SP_TOP)scripts/dkms-source.sh $(SP_SRCDIR)
	dkms add -m stablepipe -v $(SP_VERSION)
	dkms build -m stablepipe -v $(SP_VERSION) $(if $(DKMS_KVER),-k $(DKMS_KVER))
	dkms install -m stablepipe -v $(SP_VERSION) $(if $(DKMS_KVER),-k $(DKMS_KVER))
	install -D -m 0644 $(SP_TOP)scripts/modules-load.d/stablepipe.conf $(SP_MODLOAD)
	@echo "stablepipe $(SP_VERSION) installed; it loads at boot ($(SP_MODLOAD))," \
	      "or now with: modprobe stablepipe"

dkms-uninstall:
	@[ "$$(id -u)" = 0 ] || { echo "dkms-uninstall: run as root" >&2; exit 1; }
	@if dpkg -S $(SP_SRCDIR) >/dev/null 2>&1; then \
		echo "dkms-uninstall: $(SP_SRCDIR) belongs to a package;" \
		     "apt-get remove stablepipe-dkms instead" >&2; exit 1; fi
	@if command -v dkms >/dev/null && \
	    [ -n "$$(dkms status -m stablepipe -v $(SP_VERSION))" ]; then \
		echo "dkms remove stablepipe/$(SP_VERSION) --all"; \
		dkms remove -m stablepipe -v $(SP_VERSION) --all; fi
	rm -rf $(SP_SRCDIR)
	rm -f $(SP_MODLOAD)
	@echo "stablepipe $(SP_VERSION) removed (a loaded module stays loaded until" \
	      "rmmod stablepipe or reboot)"

dkms-test:
	@$(SP_TOP)scripts/dkms-test.sh

deb:
	@$(SP_TOP)scripts/deb.sh

# builds the packages first: what it tests is always this tree
deb-test: deb
	@$(SP_TOP)scripts/deb-test.sh

lint:
	@$(SP_TOP)scripts/lint.sh

packaging-check:
	@failed=; \
	for t in lint dkms-test deb-test; do \
		echo "# make $$t"; \
		$(MAKE) --no-print-directory $$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "# packaging-check failed:$$failed"; exit 1; fi; \
	echo "# packaging-check: all passed"

.PHONY: module-clean check-version dkms-install dkms-uninstall dkms-test \
	deb deb-test lint packaging-check

.DEFAULT_GOAL := $(sp_saved_goal)
