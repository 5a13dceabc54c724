/*
 * sandbox.h - the confinement of a subject process: a seccomp filter and a
 * Landlock ruleset (Linux).  The judge (harness/common/subject.h) builds both
 * before it forks a subject, and the child applies them just before it runs
 * the subject program; the subject program's own main() then adds a second
 * filter that also refuses exec (wb_sandbox_enter_or_die()).
 *
 * The seccomp filter refuses, with EPERM (ENOSYS for clone3, so that glibc
 * falls back to clone):
 *   - creating processes: fork, vfork, clone without CLONE_THREAD (threads
 *     still work), and any clone that asks for a new namespace;
 *   - exec (execve, execveat), unless WB_SECCOMP_ALLOW_EXEC;
 *   - reaching other processes: ptrace, process_vm_readv/writev, kcmp,
 *     pidfd_open, pidfd_send_signal, pidfd_getfd, and kill, tkill, tgkill,
 *     rt_sigqueueinfo, rt_tgsigqueueinfo aimed at any process but the
 *     caller's own;
 *   - kernel facilities a subject never needs: io_uring_*, bpf,
 *     perf_event_open, keyctl, add_key, request_key, userfaultfd, unshare,
 *     setns, mount and the new mount API, pivot_root, chroot, and the module,
 *     reboot, swap and kexec calls.
 * With WB_SECCOMP_SANITIZER (a subject built with ASan), clone with CLONE_VM
 * and ptrace are allowed: LeakSanitizer's leak check clones a tracer that
 * attaches to the process's own threads.  Landlock (or a separate uid) still
 * keeps ptrace away from any process outside the subject.
 *
 * Landlock (Linux 5.13+) limits files to: reading (and running) what the
 * rules list, writing only in the scratch folder (and the extra writable
 * folders); from ABI 4, binding only the listed TCP ports; from ABI 6, no
 * signals to and no abstract unix sockets of processes outside the domain.
 * Landlock also refuses ptrace of any process outside the domain.  The ABI
 * is probed at run time, and only the rights it knows are used.
 */
#ifndef WB_SANDBOX_H
#define WB_SANDBOX_H

#include <stddef.h>

struct sock_fprog;

/* Flags of wb_seccomp_build(). */
#define WB_SECCOMP_ALLOW_EXEC 1u /* the launcher's filter: one exec to come */
#define WB_SECCOMP_SANITIZER 2u  /* ASan/LSan need clone(CLONE_VM), ptrace */

/* A built filter: prog points into code. */
struct wb_seccomp {
    struct sock_fprog *prog;
    unsigned char storage[2048]; /* the program (struct sock_filter[]) */
    unsigned char fprog[16];     /* struct sock_fprog */
};

/*
 * Builds the filter for the process that will be `pid` (kill and friends
 * are allowed towards pid only).  Returns 0, or -1 with a reason in err on an
 * architecture other than x86-64 or aarch64.
 */
int wb_seccomp_build(struct wb_seccomp *f, unsigned flags, int pid, char *err,
                     size_t errlen);

/*
 * Installs a built filter in the calling thread (and its future threads),
 * with no_new_privs.  Async-signal-safe: callable between fork and exec.
 * Returns 0, or -1 with errno set.
 */
int wb_seccomp_install(const struct wb_seccomp *f);

/*
 * For the subject programs' main(): builds and installs the filter without
 * exec, for this process (with WB_SECCOMP_SANITIZER when built with ASan).
 * Returns 1 when installed, -1 on failure with a reason in err; when the
 * environment variable WB_REQUIRE_SANDBOX is "1" (the judge sets it), a
 * failure is fatal (a message on stderr, then _exit(3)).
 */
int wb_sandbox_enter(char *err, size_t errlen);
int wb_sandbox_enter_or_die(void);

/* ---- Landlock ----------------------------------------------------------- */

/* What a subject may touch in the file system and the network. */
struct wb_landlock_spec {
    const char *const *read;     /* folders or files: read (and list) */
    const char *const *exec;     /* files that may be executed (the program
                                    and its ELF interpreter) */
    const char *const *write;    /* folders: everything inside them */
    const int *bind_ports;       /* TCP ports it may bind (ABI 4+), ended by
                                    0; NULL: none */
};

/*
 * Probes the kernel: returns the Landlock ABI version (1, 2, ...), or 0 when
 * the kernel has no Landlock (or it is disabled).
 */
int wb_landlock_abi(void);

/*
 * Builds a ruleset from spec, to be applied by wb_landlock_restrict() in the
 * child.  Paths that do not exist are skipped (a system without /lib64, say).
 * Returns the ruleset's fd (close it after the fork), -2 when the kernel has
 * no Landlock (nothing built), or -1 with a reason in err.
 */
int wb_landlock_build(const struct wb_landlock_spec *spec, int *abi, char *err,
                      size_t errlen);

/*
 * Applies the ruleset fd to the calling thread (needs no_new_privs first:
 * prctl(PR_SET_NO_NEW_PRIVS)).  Async-signal-safe.  Returns 0, or -1 with
 * errno set.
 */
int wb_landlock_restrict(int ruleset_fd);

#endif /* WB_SANDBOX_H */
