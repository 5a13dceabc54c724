/*
 * sandbox.h - keeps code under test from creating processes or signalling
 * other processes, with a seccomp filter that holds for root too (where
 * RLIMIT_NPROC does not bind).
 *
 * After wb_sandbox_enter() the calling process (and any thread it starts
 * later) can no longer fork, vfork, clone a process, exec, ptrace, or send a
 * signal to another process: those calls fail with EPERM.  Threads still
 * work (clone with CLONE_THREAD; clone3 fails with ENOSYS so that glibc falls
 * back to clone).  There is no way back.
 *
 * The harness calls it at the start of every test (in the Criterion worker,
 * after Criterion's own fork) and in every benchmark driver.  Sanitizer
 * builds skip it: LeakSanitizer needs clone and ptrace for its leak checks,
 * and they only ever run the reference solutions.
 */
#ifndef WB_SANDBOX_H
#define WB_SANDBOX_H

#include <stddef.h>

/*
 * Installs the filter.  Returns 1 when installed, 0 when skipped on purpose
 * (sanitizer build), -1 on failure with a reason in err (when err is not
 * NULL).
 */
int wb_sandbox_enter(char *err, size_t errlen);

/*
 * For the harness: calls wb_sandbox_enter() and returns its result; when the
 * environment variable WB_REQUIRE_SANDBOX is "1" (the grader sets it), a
 * failure is fatal (the message on stderr, then _exit(3)), so that graded
 * code never runs unconfined.
 */
int wb_sandbox_enter_or_die(void);

#endif /* WB_SANDBOX_H */
