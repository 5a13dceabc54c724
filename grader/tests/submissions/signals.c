/*
 * Class 13(d): signalling, tracing or writing the memory of the parent
 * (the judge), of the grader and of another process of the grader's user;
 * graded with --no-static-check (kill, syscall, ptrace, open are not
 * allowed), and once with it, to see it rejected.  Before doing its work,
 * every call tries, against each target: kill, tgkill, pidfd_open +
 * pidfd_send_signal, rt_sigqueueinfo (each first with signal 0, a probe
 * that harms nothing, then with SIGKILL), ptrace attach and seize,
 * process_vm_writev, and opening /proc/PID/mem for writing.  When one of
 * them works, the call returns -1: the score would drop (and a killed
 * judge or grader would show too).  The sandbox refuses them all: every
 * test passes, and the self-test checks the other process is alive and
 * untraced.  @GRADER@ and @VICTIM@ are set by run-selftest.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static int hits;

/* A call that worked, or that failed only past its permission check. */
static void count(const char *what, long pid, long rc)
{
    if (rc >= 0 || errno == EFAULT || errno == EIO) {
        hits++;
        fprintf(stderr, "signals: %s on %ld worked\n", what, pid);
    }
}

static void attack(pid_t pid)
{
    static const int sigs[2] = { 0, SIGKILL };
    char path[64], byte = 0;
    struct iovec local = { &byte, 1 }, remote = { (void *)4096, 1 };
    int fd;

    for (int k = 0; k < 2; k++) {
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        info.si_signo = sigs[k];
        info.si_code = SI_QUEUE;
        info.si_pid = getpid();
        count("kill", pid, kill(pid, sigs[k]));
        count("tgkill", pid, syscall(SYS_tgkill, pid, pid, sigs[k]));
        count("rt_sigqueueinfo", pid, syscall(SYS_rt_sigqueueinfo, pid, sigs[k], &info));
        fd = (int)syscall(SYS_pidfd_open, pid, 0);
        count("pidfd_open", pid, fd);
        if (fd >= 0) {
            count("pidfd_send_signal", pid, syscall(SYS_pidfd_send_signal, fd, sigs[k], NULL, 0));
            close(fd);
        }
    }
    count("ptrace(PTRACE_ATTACH)", pid, ptrace(PTRACE_ATTACH, pid, NULL, NULL));
    count("ptrace(PTRACE_SEIZE)", pid, ptrace(PTRACE_SEIZE, pid, NULL, NULL));
    count("process_vm_writev", pid, syscall(SYS_process_vm_writev, pid, &local, 1, &remote, 1, 0));
    snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
    fd = open(path, O_RDWR);
    count("open(/proc/PID/mem)", pid, fd);
    if (fd >= 0) {
        count("pwrite(/proc/PID/mem)", pid, pwrite(fd, &byte, 1, 4096));
        close(fd);
    }
}

static int attack_all(void)
{
    const pid_t targets[3] = { getppid(), @GRADER@, @VICTIM@ };

    for (int i = 0; i < 3; i++)
        attack(targets[i]);
    return hits;
}

int ex01_fetch_sequential(ARGS)
{
    return attack_all() ? -1 : ref_fetch_sequential(PASS);
}

int ex01_fetch_concurrent(ARGS)
{
    return attack_all() ? -1 : ref_fetch_concurrent(PASS);
}
