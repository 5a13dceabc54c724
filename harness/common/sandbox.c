/*
 * sandbox.c - the seccomp filter described in sandbox.h (x86-64 and
 * aarch64).
 */
#include "sandbox.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__SANITIZE_ADDRESS__)
#define WB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WB_SANITIZED 1
#endif
#endif

#if defined(__x86_64__)
#define WB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define WB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define NR_OFF (offsetof(struct seccomp_data, nr))
#define ARCH_OFF (offsetof(struct seccomp_data, arch))
/* Low and high 32 bits of argument i (little-endian). */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * 8)
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + (i) * 8 + 4)

#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define DENY(e) RET(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define ALLOW RET(SECCOMP_RET_ALLOW)
/* If A == k, go on to the next instruction, else skip `skip` of them. */
#define IF_EQ(k, skip) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, (skip))

int wb_sandbox_enter(char *err, size_t errlen)
{
    char dummy[1];

    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
#if defined(WB_SANITIZED)
    (void)errlen;
    return 0;
#elif !defined(WB_AUDIT_ARCH)
    snprintf(err, errlen, "the sandbox supports x86-64 and aarch64 only");
    return -1;
#else
    const unsigned pid = (unsigned)getpid();
    struct sock_filter code[] = {
        LOAD(ARCH_OFF),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WB_AUDIT_ARCH, 1, 0),
        RET(SECCOMP_RET_KILL_PROCESS),
        LOAD(NR_OFF),
#ifdef __NR_fork
        IF_EQ(__NR_fork, 1), DENY(EPERM),
#endif
#ifdef __NR_vfork
        IF_EQ(__NR_vfork, 1), DENY(EPERM),
#endif
        IF_EQ(__NR_execve, 1), DENY(EPERM),
        IF_EQ(__NR_execveat, 1), DENY(EPERM),
        IF_EQ(__NR_ptrace, 1), DENY(EPERM),
        IF_EQ(__NR_process_vm_writev, 1), DENY(EPERM),
        IF_EQ(__NR_tkill, 1), DENY(EPERM),
        IF_EQ(__NR_clone3, 1), DENY(ENOSYS),
        /* clone: threads only. */
        IF_EQ(__NR_clone, 4),
        LOAD(ARG_LO(0)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
        ALLOW,
        DENY(EPERM),
        /* kill and tgkill: this process only (pid > 0, equal to ours). */
        IF_EQ(__NR_kill, 1),
        BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
        IF_EQ(__NR_tgkill, 6),
        LOAD(ARG_HI(0)),
        IF_EQ(0, 3),
        LOAD(ARG_LO(0)),
        IF_EQ(pid, 1),
        ALLOW,
        DENY(EPERM),
        ALLOW,
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(PR_SET_SECCOMP): %s", strerror(errno));
        return -1;
    }
    return 1;
#endif
}

int wb_sandbox_enter_or_die(void)
{
    char err[256] = "";
    int rc = wb_sandbox_enter(err, sizeof(err));
    const char *req = getenv("WB_REQUIRE_SANDBOX");

    if (rc < 0 && req != NULL && strcmp(req, "1") == 0) {
        fprintf(stderr, "sandbox: cannot confine the code under test: %s\n", err);
        _exit(3);
    }
    return rc;
}
