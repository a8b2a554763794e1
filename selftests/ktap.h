/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktap.h - KTAP output and a fork-per-case runner for the stablepipe
 * selftests (written for this project; it is not the kernel's kselftest.h).
 *
 * Output:
 *	TAP version 13
 *	1..N
 *	ok 1 name
 *	not ok 2 name
 *	ok 3 name # SKIP reason
 *	# diagnostics
 * Exit status: 0 all passed (skips allowed), 1 something failed,
 * 4 (KSFT_SKIP) when the whole program was skipped.
 *
 * Each case runs in a child process, so a case that crashes, leaks or
 * dead-locks cannot take the others with it.  The parent is the watchdog:
 * it arms alarm() for the case's time limit; when it fires, the child is
 * killed (SIGKILL) and the case is reported "not ok" (a deadlock is a
 * failure, never a hung VM).  A child stuck in an uninterruptible sleep
 * even after SIGKILL makes the parent print "Bail out!" and exit 1.
 * Cases are free to use SIGALRM and ITIMER_REAL themselves: the watchdog
 * lives in the parent.
 */
#ifndef STABLEPIPE_KTAP_H
#define STABLEPIPE_KTAP_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

#define KTAP_REASON_MAX	256

struct ktap_counts {
	unsigned int planned;
	unsigned int num;
	unsigned int pass;
	unsigned int fail;
	unsigned int skip;
};

static struct ktap_counts ktap_cnt;
/* Shared with case children: the reason of a skip or failure. */
static char *ktap_reason;
static volatile sig_atomic_t ktap_alarm_fired;

static inline void ktap_vprint_msg(const char *fmt, va_list ap)
{
	char buf[1024], *line, *save = NULL;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	fflush(stdout);
}

/* A diagnostic line ("# ..."); embedded newlines start new "# " lines. */
static inline __attribute__((format(printf, 1, 2)))
void ktap_print_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktap_vprint_msg(fmt, ap);
	va_end(ap);
}

static inline void ktap_print_header(void)
{
	/* Line buffered: results must not sit in a buffer a child copies. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	fflush(stdout);
}

static inline void ktap_set_plan(unsigned int n)
{
	ktap_cnt.planned = n;
	printf("1..%u\n", n);
	fflush(stdout);
}

static inline void ktap_result(int result, const char *name,
			       const char *reason)
{
	ktap_cnt.num++;
	switch (result) {
	case KSFT_PASS:
		ktap_cnt.pass++;
		printf("ok %u %s\n", ktap_cnt.num, name);
		break;
	case KSFT_SKIP:
		ktap_cnt.skip++;
		printf("ok %u %s # SKIP %s\n", ktap_cnt.num, name,
		       reason && *reason ? reason : "skipped");
		break;
	default:
		ktap_cnt.fail++;
		printf("not ok %u %s\n", ktap_cnt.num, name);
		break;
	}
	fflush(stdout);
}

/* Skip the whole program (before any result): "1..0 # SKIP", exit 4. */
static inline __attribute__((noreturn, format(printf, 1, 2)))
void ktap_exit_skip_all(const char *fmt, ...)
{
	char buf[KTAP_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("1..0 # SKIP %s\n", buf);
	fflush(stdout);
	exit(KSFT_SKIP);
}

/* Totals and the exit status; call after the last case. */
static inline __attribute__((noreturn)) void ktap_finished(void)
{
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       ktap_cnt.pass, ktap_cnt.fail, ktap_cnt.skip);
	fflush(stdout);
	if (ktap_cnt.fail || ktap_cnt.num != ktap_cnt.planned)
		exit(KSFT_FAIL);
	exit(KSFT_PASS);
}

/*
 * Called by a case: returns KSFT_SKIP with a reason that the parent
 * prints after "# SKIP".
 */
static inline __attribute__((format(printf, 1, 2)))
int ktap_skip(const char *fmt, ...)
{
	va_list ap;

	if (!ktap_reason)
		return KSFT_SKIP;
	va_start(ap, fmt);
	vsnprintf(ktap_reason, KTAP_REASON_MAX, fmt, ap);
	va_end(ap);
	return KSFT_SKIP;
}

struct ktap_case {
	char name[128];
	int (*fn)(const void *arg);	/* KSFT_PASS, KSFT_FAIL, KSFT_SKIP */
	const void *arg;
	unsigned int timeout;		/* seconds; 0: the runner's default */
};

static inline void ktap_on_alarm(int sig)
{
	(void)sig;
	ktap_alarm_fired = 1;
}

/* Wait for @pid; false if @secs passed first (0: wait forever). */
static inline bool ktap_wait(pid_t pid, int *status, unsigned int secs)
{
	ktap_alarm_fired = 0;
	alarm(secs);
	for (;;) {
		if (waitpid(pid, status, 0) == pid) {
			alarm(0);
			return true;
		}
		if (errno != EINTR) {
			alarm(0);
			*status = -1;
			return true;
		}
		if (ktap_alarm_fired)
			return false;
	}
}

/* Run one case in a child under the watchdog, print its result. */
static inline void ktap_run_case(const struct ktap_case *c,
				 unsigned int def_timeout)
{
	unsigned int limit = c->timeout ? c->timeout : def_timeout;
	struct sigaction sa, old;
	int status = 0, result;
	pid_t pid;

	if (!ktap_reason) {
		ktap_reason = mmap(NULL, KTAP_REASON_MAX, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (ktap_reason == MAP_FAILED)
			ktap_reason = NULL;
	}
	if (ktap_reason)
		ktap_reason[0] = '\0';
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		ktap_print_msg("%s: fork: %s", c->name, strerror(errno));
		ktap_result(KSFT_FAIL, c->name, NULL);
		return;
	}
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		result = c->fn(c->arg);
		fflush(stdout);
		fflush(stderr);
		_exit(result);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ktap_on_alarm;	/* no SA_RESTART: waitpid -> EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	if (!ktap_wait(pid, &status, limit)) {
		ktap_print_msg("%s: watchdog: no result after %u s (deadlock or hang?), sending SIGKILL",
			       c->name, limit);
		kill(pid, SIGKILL);
		if (!ktap_wait(pid, &status, 30)) {
			ktap_result(KSFT_FAIL, c->name, NULL);
			printf("Bail out! pid %d survives SIGKILL (stuck in the kernel?)\n",
			       (int)pid);
			fflush(stdout);
			exit(KSFT_FAIL);
		}
		ktap_result(KSFT_FAIL, c->name, NULL);
		sigaction(SIGALRM, &old, NULL);
		return;
	}
	sigaction(SIGALRM, &old, NULL);

	if (status == -1) {
		ktap_print_msg("%s: waitpid: %s", c->name, strerror(errno));
		result = KSFT_FAIL;
	} else if (WIFSIGNALED(status)) {
		ktap_print_msg("%s: killed by signal %d (%s)", c->name,
			       WTERMSIG(status), strsignal(WTERMSIG(status)));
		result = KSFT_FAIL;
	} else if (WEXITSTATUS(status) == KSFT_PASS ||
		   WEXITSTATUS(status) == KSFT_SKIP) {
		result = WEXITSTATUS(status);
	} else {
		result = KSFT_FAIL;
	}
	ktap_result(result, c->name, ktap_reason);
}

/* Header, plan, every case, totals; exits. */
static inline __attribute__((noreturn))
void ktap_run_cases(const struct ktap_case *cases, unsigned int n,
		    unsigned int def_timeout)
{
	unsigned int i;

	ktap_set_plan(n);
	for (i = 0; i < n; i++)
		ktap_run_case(&cases[i], def_timeout);
	ktap_finished();
}

#endif /* STABLEPIPE_KTAP_H */
