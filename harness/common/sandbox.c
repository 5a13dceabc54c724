/*
 * sandbox.c - the seccomp filter and the Landlock ruleset of sandbox.h
 * (x86-64 and aarch64).
 */
#define _GNU_SOURCE 1 /* O_PATH */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
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

/* ---- seccomp ------------------------------------------------------------ */

#define NR_OFF (offsetof(struct seccomp_data, nr))
#define ARCH_OFF (offsetof(struct seccomp_data, arch))
/* Low and high 32 bits of argument i (little-endian). */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * 8)
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + (i) * 8 + 4)
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* Namespaces a clone may not ask for. */
#define WB_CLONE_NS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/* Calls refused with EPERM whatever the flags. */
static const int wb_denied[] = {
#ifdef __NR_fork
    __NR_fork,
#endif
#ifdef __NR_vfork
    __NR_vfork,
#endif
    __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp, __NR_tkill,
#ifdef __NR_pidfd_open
    __NR_pidfd_open,
#endif
#ifdef __NR_pidfd_send_signal
    __NR_pidfd_send_signal,
#endif
#ifdef __NR_pidfd_getfd
    __NR_pidfd_getfd,
#endif
#ifdef __NR_io_uring_setup
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
    __NR_bpf, __NR_perf_event_open, __NR_keyctl, __NR_add_key, __NR_request_key,
    __NR_userfaultfd, __NR_unshare, __NR_setns, __NR_mount, __NR_umount2,
#ifdef __NR_open_tree
    __NR_open_tree, __NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount,
    __NR_fspick,
#endif
#ifdef __NR_mount_setattr
    __NR_mount_setattr,
#endif
    __NR_pivot_root, __NR_chroot, __NR_init_module, __NR_finit_module,
    __NR_delete_module, __NR_reboot, __NR_swapon, __NR_swapoff, __NR_kexec_load,
#ifdef __NR_kexec_file_load
    __NR_kexec_file_load,
#endif
    __NR_acct, __NR_open_by_handle_at,
#ifdef __NR_process_madvise
    __NR_process_madvise,
#endif
};

/* Calls allowed only towards the caller's own process: arg 0 is a pid. */
static const int wb_self_only[] = {
    __NR_kill, __NR_tgkill, __NR_rt_sigqueueinfo, __NR_rt_tgsigqueueinfo,
};

struct wb_emit {
    struct sock_filter *code;
    size_t n, cap;
    int overflow;
};

static void emit(struct wb_emit *e, struct sock_filter insn)
{
    if (e->n >= e->cap) {
        e->overflow = 1;
        return;
    }
    e->code[e->n++] = insn;
}

static void emit_stmt(struct wb_emit *e, unsigned short code, unsigned k)
{
    emit(e, (struct sock_filter)BPF_STMT(code, k));
}

static void emit_jump(struct wb_emit *e, unsigned short code, unsigned k,
                      unsigned char jt, unsigned char jf)
{
    emit(e, (struct sock_filter)BPF_JUMP(code, k, jt, jf));
}

/* if (nr == k) return ret; (the accumulator holds nr before and after) */
static void emit_nr_ret(struct wb_emit *e, int nr, unsigned ret)
{
    emit_jump(e, BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1);
    emit_stmt(e, BPF_RET | BPF_K, ret);
}

int wb_seccomp_build(struct wb_seccomp *f, unsigned flags, int pid, char *err,
                     size_t errlen)
{
    struct wb_emit e;
    struct sock_fprog *prog;
    size_t i;

    memset(f, 0, sizeof(*f));
#if !defined(WB_AUDIT_ARCH)
    (void)flags;
    (void)pid;
    snprintf(err, errlen, "the sandbox supports x86-64 and aarch64 only");
    return -1;
#else
    e.code = (struct sock_filter *)(void *)f->storage;
    e.n = 0;
    e.cap = sizeof(f->storage) / sizeof(struct sock_filter);
    e.overflow = 0;

    emit_stmt(&e, BPF_LD | BPF_W | BPF_ABS, ARCH_OFF);
    emit_jump(&e, BPF_JMP | BPF_JEQ | BPF_K, WB_AUDIT_ARCH, 1, 0);
    emit_stmt(&e, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    emit_stmt(&e, BPF_LD | BPF_W | BPF_ABS, NR_OFF);
    for (i = 0; i < sizeof(wb_denied) / sizeof(wb_denied[0]); i++)
        emit_nr_ret(&e, wb_denied[i], RET_ERRNO(EPERM));
    emit_nr_ret(&e, __NR_clone3, RET_ERRNO(ENOSYS));
    if (!(flags & WB_SECCOMP_ALLOW_EXEC)) {
        emit_nr_ret(&e, __NR_execve, RET_ERRNO(EPERM));
        emit_nr_ret(&e, __NR_execveat, RET_ERRNO(EPERM));
    }
    if (!(flags & WB_SECCOMP_SANITIZER))
        emit_nr_ret(&e, __NR_ptrace, RET_ERRNO(EPERM));

    /* clone: no namespaces; threads; with a sanitizer, CLONE_VM tasks. */
    {
        int san = (flags & WB_SECCOMP_SANITIZER) != 0;
        /* Instructions after the JEQ, up to the end of the block. */
        unsigned char len = (unsigned char)(san ? 7 : 6);

        emit_jump(&e, BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, len);
        emit_stmt(&e, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
        emit_jump(&e, BPF_JMP | BPF_JSET | BPF_K, WB_CLONE_NS, (unsigned char)(san ? 3 : 2), 0);
        emit_jump(&e, BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, (unsigned char)(san ? 3 : 2), 0);
        if (san)
            emit_jump(&e, BPF_JMP | BPF_JSET | BPF_K, CLONE_VM, 2, 0);
        emit_stmt(&e, BPF_RET | BPF_K, RET_ERRNO(EPERM));
        emit_stmt(&e, BPF_RET | BPF_K, RET_ERRNO(EPERM));
        emit_stmt(&e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }

    /* Signals: to this process only (arg 0 == pid, high half 0). */
    for (i = 0; i < sizeof(wb_self_only) / sizeof(wb_self_only[0]); i++) {
        emit_jump(&e, BPF_JMP | BPF_JEQ | BPF_K, (unsigned)wb_self_only[i], 0, 6);
        emit_stmt(&e, BPF_LD | BPF_W | BPF_ABS, ARG_HI(0));
        emit_jump(&e, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3);
        emit_stmt(&e, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
        emit_jump(&e, BPF_JMP | BPF_JEQ | BPF_K, (unsigned)pid, 0, 1);
        emit_stmt(&e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        emit_stmt(&e, BPF_RET | BPF_K, RET_ERRNO(EPERM));
    }
    emit_stmt(&e, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    if (e.overflow) {
        snprintf(err, errlen, "seccomp filter too long");
        return -1;
    }
    prog = (struct sock_fprog *)(void *)f->fprog;
    prog->len = (unsigned short)e.n;
    prog->filter = e.code;
    f->prog = prog;
    return 0;
#endif
}

int wb_seccomp_install(const struct wb_seccomp *f)
{
    if (f->prog == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, f->prog, 0, 0) != 0 ? -1 : 0;
}

int wb_sandbox_enter(char *err, size_t errlen)
{
    struct wb_seccomp f;
    unsigned flags = 0;

#if defined(WB_SANITIZED)
    flags |= WB_SECCOMP_SANITIZER;
#endif
    if (wb_seccomp_build(&f, flags, (int)getpid(), err, errlen) < 0)
        return -1;
    if (wb_seccomp_install(&f) < 0) {
        snprintf(err, errlen, "cannot install the seccomp filter: %s", strerror(errno));
        return -1;
    }
    return 1;
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

/* ---- Landlock ----------------------------------------------------------- */

/* The constants of ABIs newer than the installed kernel headers may know. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define WB_LL_NET_BIND_TCP (1ULL << 0)
#define WB_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define WB_LL_SCOPE_SIGNAL (1ULL << 1)
#define WB_LL_RULE_PATH 1
#define WB_LL_RULE_NET_PORT 2

/* The kernel's structures, as of ABI 6 (older kernels read a prefix). */
struct wb_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct wb_ll_path_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct wb_ll_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

#define WB_LL_FS_V1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define WB_LL_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                           LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
                           LANDLOCK_ACCESS_FS_IOCTL_DEV)

int wb_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

    return abi < 0 ? 0 : (int)abi;
}

static uint64_t wb_ll_handled_fs(int abi)
{
    uint64_t fs = WB_LL_FS_V1;

    if (abi >= 2)
        fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return fs;
}

/* Adds a rule for path; a path that does not exist is skipped. */
static int wb_ll_add_path(int ruleset, const char *path, uint64_t access, uint64_t handled,
                          char *err, size_t errlen)
{
    struct wb_ll_path_attr attr;
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -1;
    }
    access &= handled;
    if (!S_ISDIR(st.st_mode))
        access &= WB_LL_FILE_RIGHTS;
    attr.allowed_access = access;
    attr.parent_fd = fd;
    if (access != 0 &&
        syscall(SYS_landlock_add_rule, ruleset, WB_LL_RULE_PATH, &attr, 0) < 0) {
        snprintf(err, errlen, "landlock_add_rule(%s): %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int wb_landlock_build(const struct wb_landlock_spec *spec, int *abi_out, char *err,
                      size_t errlen)
{
    struct wb_ll_ruleset_attr attr;
    size_t attr_size, i;
    int abi = wb_landlock_abi(), ruleset;
    uint64_t fs, rd = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

    if (abi_out != NULL)
        *abi_out = abi;
    if (abi <= 0)
        return -2;
    fs = wb_ll_handled_fs(abi);
    memset(&attr, 0, sizeof(attr));
    attr.handled_access_fs = fs;
    attr_size = sizeof(attr.handled_access_fs);
    if (abi >= 4) {
        attr.handled_access_net = WB_LL_NET_BIND_TCP;
        attr_size = offsetof(struct wb_ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = WB_LL_SCOPE_ABSTRACT_UNIX | WB_LL_SCOPE_SIGNAL;
        attr_size = sizeof(attr);
    }
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (ruleset < 0) {
        snprintf(err, errlen, "landlock_create_ruleset: %s", strerror(errno));
        return -1;
    }
    for (i = 0; spec->read != NULL && spec->read[i] != NULL; i++)
        if (wb_ll_add_path(ruleset, spec->read[i], rd, fs, err, errlen) < 0)
            goto fail;
    for (i = 0; spec->exec != NULL && spec->exec[i] != NULL; i++)
        if (wb_ll_add_path(ruleset, spec->exec[i],
                           LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE, fs,
                           err, errlen) < 0)
            goto fail;
    for (i = 0; spec->write != NULL && spec->write[i] != NULL; i++)
        if (wb_ll_add_path(ruleset, spec->write[i], fs & ~LANDLOCK_ACCESS_FS_EXECUTE, fs, err,
                           errlen) < 0)
            goto fail;
    for (i = 0; abi >= 4 && spec->bind_ports != NULL && spec->bind_ports[i] != 0; i++) {
        struct wb_ll_port_attr port = { WB_LL_NET_BIND_TCP, (uint64_t)spec->bind_ports[i] };
        if (syscall(SYS_landlock_add_rule, ruleset, WB_LL_RULE_NET_PORT, &port, 0) < 0) {
            snprintf(err, errlen, "landlock_add_rule(port %d): %s", spec->bind_ports[i],
                     strerror(errno));
            goto fail;
        }
    }
    return ruleset;

fail:
    if (err[0] == '\0')
        snprintf(err, errlen, "landlock: %s", strerror(errno));
    close(ruleset);
    return -1;
}

int wb_landlock_restrict(int ruleset_fd)
{
    return syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0 ? -1 : 0;
}
