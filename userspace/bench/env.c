// SPDX-License-Identifier: GPL-2.0
/*
 * stablepipe-bench: the environment: kernel, file system, device
 */
#include "bench.h"

struct env env;

void detect_env(void)
{
	struct utsname u;
	struct statfs sfs;
	int fds[2];

	if (uname(&u) == 0)
		snprintf(env.kernel, sizeof(env.kernel), "%s", u.release);
	if (!realpath(cfg.dir, env.dir))
		die("%s: %s", cfg.dir, strerror(errno));
	if (cfg.label) {
		snprintf(env.fs, sizeof(env.fs), "%s", cfg.label);
	} else if (statfs(cfg.dir, &sfs) == 0) {
		static const struct {
			unsigned long magic;
			const char *name;
		} names[] = {
			{ XFS_SUPER_MAGIC, "xfs" }, { EXT4_SUPER_MAGIC, "ext4" },
			{ TMPFS_MAGIC, "tmpfs" }, { BTRFS_SUPER_MAGIC, "btrfs" },
		};

		snprintf(env.fs, sizeof(env.fs), "fs-0x%lx",
			 (unsigned long)sfs.f_type);
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			if (names[i].magic == (unsigned long)sfs.f_type)
				snprintf(env.fs, sizeof(env.fs), "%s", names[i].name);
	}
	env.is_root = geteuid() == 0;
	if (stablepipe2(fds, O_CLOEXEC)) {
		snprintf(env.dev_why, sizeof(env.dev_why), "%s: %s%s",
			 STABLEPIPE_DEV, strerror(errno),
			 errno == ENOENT ? " (is the module loaded?)" : "");
		return;
	}
	env.have_dev = true;
	if (ioctl(fds[1], STABLEPIPE_IOC_GET_POLICY, &env.dev_default_policy))
		env.dev_default_policy = STABLEPIPE_POLICY_AUTO;
	if (ioctl(fds[1], STABLEPIPE_IOC_GET_CAPACITY, &env.dev_default_capacity))
		env.dev_default_capacity = 0;
	close(fds[0]);
	close(fds[1]);
}

