# SPDX-License-Identifier: GPL-2.0
#
# make                 module for the running kernel, and the userspace tools
# make KDIR=DIR        module for the kernel build directory DIR
# make check           everything, tested in a QEMU VM (see README.md)
# make demo            the demonstration, in a QEMU VM
#
KDIR ?= /lib/modules/$(shell uname -r)/build
CC ?= cc

all: module userspace selftests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

selftests:
	$(MAKE) -C selftests

check:
	selftests/vm/check.sh

demo:
	selftests/vm/check.sh --demo

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C userspace clean
	$(MAKE) -C selftests clean

.PHONY: all module userspace selftests check demo clean
