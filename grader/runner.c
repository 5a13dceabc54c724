/*
 * runner.c - fork/exec with limits, timeout and straggler cleanup.
 */
#include "runner.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define RUNNER_POLL_NS (5L * 1000 * 1000)   /* 5 ms between waitpid polls */
#define RUNNER_SWEEP_MAX_S 5.0              /* bound on straggler cleanup */
#define RUNNER_MAX_DEPTH 64                 /* runner_clear_dir recursion */
#define RUNNER_MAX_FOREIGN 64               /* children we must not touch */

/* Process group of the running child, for the termination handler. */
static volatile sig_atomic_t runner_active_pgid = 0;

/* Children this process already had at runner_init (e.g. after
 * "cmd & exec grader"): the straggler sweep leaves them alone. */
static pid_t runner_foreign[RUNNER_MAX_FOREIGN];
static size_t runner_nforeign = 0;

/* RLIMIT_NPROC of sandboxed children; 0: not set (root, or unknown). */
static long runner_nproc = 0;

/* What the child reports through the status pipe when it cannot exec. */
enum runner_stage {
    RUNNER_STAGE_SETUP,
    RUNNER_STAGE_CHDIR,
    RUNNER_STAGE_LIMITS,
    RUNNER_STAGE_EXEC
};

struct runner_child_error {
    int stage;
    int errnum;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* Formats an error message into err (truncated to RUNNER_ERR_LEN bytes). */
static void runner_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, RUNNER_ERR_LEN, fmt, ap);
    va_end(ap);
}

static double runner_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void runner_sleep(long ns)
{
    struct timespec ts = { 0, ns };

    nanosleep(&ts, NULL);
}

static double runner_children_cpu(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* Children of this process, found through /proc                       */
/* ------------------------------------------------------------------ */

/* Returns the parent pid of pid from /proc, or -1. */
static pid_t runner_parent_of(const char *pid)
{
    char path[64], buf[512];
    const char *p;
    ssize_t n;
    int fd, ppid = -1;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may contain anything */
    if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

static int runner_is_number(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Records the children that exist now, so that runner_sweep spares them. */
static void runner_note_foreign(void)
{
    pid_t self = getpid();
    struct dirent *de;
    DIR *proc = opendir("/proc");

    if (proc == NULL)
        return;
    while ((de = readdir(proc)) != NULL &&
           runner_nforeign < RUNNER_MAX_FOREIGN) {
        if (runner_is_number(de->d_name) &&
            runner_parent_of(de->d_name) == self)
            runner_foreign[runner_nforeign++] = (pid_t)atol(de->d_name);
    }
    closedir(proc);
}

static int runner_is_foreign(pid_t pid)
{
    size_t i;

    for (i = 0; i < runner_nforeign; i++)
        if (runner_foreign[i] == pid)
            return 1;
    return 0;
}

int runner_spare(int pid)
{
    if (runner_nforeign >= RUNNER_MAX_FOREIGN)
        return -1;
    runner_foreign[runner_nforeign++] = (pid_t)pid;
    return 0;
}

void runner_unspare(int pid)
{
    size_t i;

    for (i = 0; i < runner_nforeign; i++)
        if (runner_foreign[i] == (pid_t)pid) {
            runner_foreign[i] = runner_foreign[--runner_nforeign];
            return;
        }
}

/*
 * Sends SIGKILL to every child of this process except the foreign ones,
 * and reaps those already dead. Returns how many children were found.
 */
static int runner_kill_children(void)
{
    pid_t self = getpid(), pid;
    struct dirent *de;
    DIR *proc = opendir("/proc");
    int found = 0;

    if (proc == NULL)
        return 0;
    while ((de = readdir(proc)) != NULL) {
        if (!runner_is_number(de->d_name) ||
            runner_parent_of(de->d_name) != self)
            continue;
        pid = (pid_t)atol(de->d_name);
        if (runner_is_foreign(pid))
            continue;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, WNOHANG);
        found++;
    }
    closedir(proc);
    return found;
}

/*
 * Kills and reaps every remaining child. Grandchildren of a killed process
 * are re-parented to us (child subreaper), so repeat until none is left;
 * a child that is killed but not yet dead is found and reaped next round.
 */
static void runner_sweep(void)
{
    double deadline = runner_now() + RUNNER_SWEEP_MAX_S;

    while (runner_kill_children() > 0 && runner_now() < deadline)
        runner_sleep(RUNNER_POLL_NS);
}

static void runner_on_signal(int sig)
{
    pid_t pgid = (pid_t)runner_active_pgid;

    if (pgid > 0)
        kill(-pgid, SIGKILL);
    raise(sig); /* SA_RESETHAND: default action once the handler returns */
}

/* Adds the Threads: count of /proc/PID/status when its real uid is uid. */
static long runner_tasks_of(const char *pid, uid_t uid)
{
    char path[64], line[256];
    long real = -1, threads = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Uid:", 4) == 0)
            real = strtol(line + 4, NULL, 10);
        else if (strncmp(line, "Threads:", 8) == 0)
            threads = strtol(line + 8, NULL, 10);
    }
    fclose(f);
    return real == (long)uid ? threads : 0;
}

long runner_count_user_tasks(void)
{
    uid_t uid = getuid();
    struct dirent *de;
    DIR *proc = opendir("/proc");
    long n = 0;

    if (proc == NULL)
        return -1;
    while ((de = readdir(proc)) != NULL)
        if (runner_is_number(de->d_name))
            n += runner_tasks_of(de->d_name, uid);
    closedir(proc);
    return n;
}

int runner_init(char err[RUNNER_ERR_LEN])
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa;
    long tasks = getuid() != 0 ? runner_count_user_tasks() : -1;
    size_t i;

    runner_note_foreign();
    if (tasks >= 0)
        runner_nproc = tasks + RUNNER_NPROC_MARGIN;

#ifdef __linux__
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        runner_seterr(err, "prctl(PR_SET_CHILD_SUBREAPER): %s",
                      strerror(errno));
        return -1;
    }
#endif
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = runner_on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigaction(sigs[i], &sa, NULL) < 0) {
            runner_seterr(err, "sigaction: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Child side (between fork and exec: async-signal-safe calls only,    */
/* except unsetenv and putenv, which are fine because the grader is    */
/* single-threaded)                                                    */
/* ------------------------------------------------------------------ */

static int runner_limit(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl;

    if (getrlimit(resource, &rl) < 0)
        return -1;
    if (rl.rlim_max != RLIM_INFINITY && hard > rl.rlim_max)
        hard = rl.rlim_max;
    rl.rlim_cur = soft < hard ? soft : hard;
    rl.rlim_max = hard;
    return setrlimit(resource, &rl);
}

static int runner_apply_limits(const struct runner_spec *spec)
{
    rlim_t as = (rlim_t)spec->memory_mb * 1024 * 1024;

    if (spec->cpu_limit_s > 0 &&
        runner_limit(RLIMIT_CPU, (rlim_t)spec->cpu_limit_s,
                     (rlim_t)spec->cpu_limit_s + 1) < 0)
        return -1;
    if (spec->memory_mb > 0 && runner_limit(RLIMIT_AS, as, as) < 0)
        return -1;
    if (!spec->sandbox)
        return 0;
    if (runner_limit(RLIMIT_FSIZE, RUNNER_FSIZE_LIMIT,
                     RUNNER_FSIZE_LIMIT) < 0 ||
        runner_limit(RLIMIT_NOFILE, RUNNER_NOFILE_LIMIT,
                     RUNNER_NOFILE_LIMIT) < 0 ||
        runner_limit(RLIMIT_CORE, 0, 0) < 0)
        return -1;
    /* Root is exempt from RLIMIT_NPROC: the harness's seccomp filter is
     * what contains process creation there. */
    if (runner_nproc > 0 &&
        runner_limit(RLIMIT_NPROC, (rlim_t)runner_nproc,
                     (rlim_t)runner_nproc) < 0)
        return -1;
    return 0;
}

static void runner_reset_signals(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT };
    sigset_t none;
    size_t i;

    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void runner_child_fail(int statfd, int stage)
{
    struct runner_child_error ce = { stage, errno };
    ssize_t n = write(statfd, &ce, sizeof(ce));

    (void)n;
    _exit(127);
}

static void runner_child_env(const struct runner_spec *spec)
{
    size_t i;

    for (i = 0; spec->unset_env != NULL && spec->unset_env[i] != NULL; i++)
        unsetenv(spec->unset_env[i]);
    for (i = 0; spec->set_env != NULL && spec->set_env[i] != NULL; i++)
        putenv((char *)spec->set_env[i]);
}

/* outfd receives stdout and stderr (the log file or the capture pipe). */
static void runner_child(const struct runner_spec *spec, int outfd,
                         int nullfd, int statfd)
{
    runner_reset_signals();
    if (setpgid(0, 0) < 0 || dup2(nullfd, STDIN_FILENO) < 0 ||
        dup2(outfd, STDOUT_FILENO) < 0 || dup2(outfd, STDERR_FILENO) < 0)
        runner_child_fail(statfd, RUNNER_STAGE_SETUP);
    if (spec->cwd != NULL && chdir(spec->cwd) < 0)
        runner_child_fail(statfd, RUNNER_STAGE_CHDIR);
    /* The environment first: it may allocate, which RLIMIT_AS could
     * forbid (a sanitizer build of the grader reserves terabytes). */
    runner_child_env(spec);
    if (runner_apply_limits(spec) < 0)
        runner_child_fail(statfd, RUNNER_STAGE_LIMITS);
    execvp(spec->argv[0], (char *const *)spec->argv);
    runner_child_fail(statfd, RUNNER_STAGE_EXEC);
}

/* ------------------------------------------------------------------ */
/* Output capture                                                      */
/* ------------------------------------------------------------------ */

/*
 * Reads what is available on fd into the capture. Returns 1 at end of
 * file, 0 otherwise. Kills the process group pgid once the child wrote
 * more than kill_after bytes.
 */
static int runner_drain(struct runner_capture *cap, int fd, pid_t pgid)
{
    char chunk[16384];
    size_t keep;
    ssize_t n;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0;
        keep = cap->size - 1 - cap->len;
        if (keep > (size_t)n)
            keep = (size_t)n;
        memcpy(cap->buf + cap->len, chunk, keep);
        cap->len += keep;
        cap->buf[cap->len] = '\0';
        cap->total += (unsigned long long)n;
        if (cap->kill_after > 0 && cap->total > cap->kill_after &&
            !cap->killed) {
            cap->killed = 1;
            kill(-pgid, SIGKILL);
        }
    }
}

/* Waits up to RUNNER_POLL_NS for output (or just sleeps without a pipe). */
static void runner_pause(struct runner_capture *cap, int fd, pid_t pgid,
                         int *eof)
{
    struct pollfd pfd = { fd, POLLIN, 0 };

    if (cap == NULL || *eof) {
        runner_sleep(RUNNER_POLL_NS);
        return;
    }
    if (poll(&pfd, 1, (int)(RUNNER_POLL_NS / 1000000)) > 0)
        *eof = runner_drain(cap, fd, pgid);
}

/* Writes what the capture kept to path (best effort: it is a copy). */
static void runner_save_capture(const struct runner_capture *cap,
                                const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return;
    fwrite(cap->buf, 1, cap->len, f);
    if (cap->total > cap->len)
        fprintf(f, "\n[grader: %llu more bytes of output were not kept]\n",
                cap->total - cap->len);
    fclose(f);
}

/* ------------------------------------------------------------------ */
/* Parent side                                                         */
/* ------------------------------------------------------------------ */

/* The parent's end of a run. */
struct runner_run_state {
    const struct runner_spec *spec;
    pid_t pid;
    int outfd;      /* capture pipe, read end; -1 without a capture */
    int eof;        /* the capture pipe reached end of file */
    int wstatus;
    int timed_out;
};

/* Waits for the child, killing its process group after timeout_s. */
static int runner_wait(struct runner_run_state *st)
{
    double deadline = runner_now() + st->spec->timeout_s;
    pid_t r;

    st->timed_out = 0;
    for (;;) {
        r = waitpid(st->pid, &st->wstatus, WNOHANG);
        if (r == st->pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (!st->timed_out && runner_now() >= deadline) {
            st->timed_out = 1;
            kill(-st->pid, SIGKILL);
        }
        runner_pause(st->spec->capture, st->outfd, st->pid, &st->eof);
    }
}

static const char *runner_stage_name(int stage)
{
    switch (stage) {
    case RUNNER_STAGE_SETUP: return "cannot set up the child process";
    case RUNNER_STAGE_CHDIR: return "cannot enter the working directory";
    case RUNNER_STAGE_LIMITS: return "cannot set resource limits";
    default: return "cannot execute";
    }
}

/* Reads the child's exec report: 0 when exec succeeded, -1 otherwise. */
static int runner_check_exec(const struct runner_spec *spec, int statfd,
                             char err[RUNNER_ERR_LEN])
{
    struct runner_child_error ce;
    ssize_t n;

    do {
        n = read(statfd, &ce, sizeof(ce));
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof(ce)) {
        runner_seterr(err, "%s: lost contact with the child",
                      spec->argv[0]);
        return -1;
    }
    runner_seterr(err, "%s %s: %s", runner_stage_name(ce.stage),
                  spec->argv[0], strerror(ce.errnum));
    return -1;
}

static void runner_fill_result(struct runner_result *res, int wstatus,
                               int timed_out)
{
    if (timed_out) {
        res->outcome = RUNNER_TIMED_OUT;
        res->status = 0;
    } else if (WIFSIGNALED(wstatus)) {
        res->outcome = RUNNER_SIGNALED;
        res->status = WTERMSIG(wstatus);
    } else {
        res->outcome = RUNNER_EXITED;
        res->status = WEXITSTATUS(wstatus);
    }
}

static int runner_cloexec_pipe(int fds[2])
{
    if (pipe(fds) < 0)
        return -1;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/*
 * Opens what the child needs: outfd[1] is its stdout+stderr (the log file,
 * or the write end of the capture pipe whose read end is outfd[0]),
 * statfd the exec status pipe.
 */
static int runner_open_files(const struct runner_spec *spec, int outfd[2],
                             int *nullfd, int statfd[2],
                             char err[RUNNER_ERR_LEN])
{
    if (spec->capture != NULL) {
        if (runner_cloexec_pipe(outfd) < 0 ||
            fcntl(outfd[0], F_SETFL, O_NONBLOCK) < 0) {
            runner_seterr(err, "cannot create a pipe: %s", strerror(errno));
            return -1;
        }
    } else if ((outfd[1] = open(spec->log_path, O_WRONLY | O_CREAT |
                                O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        runner_seterr(err, "cannot create %s: %s", spec->log_path,
                      strerror(errno));
        return -1;
    }
    *nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (*nullfd < 0 || runner_cloexec_pipe(statfd) < 0) {
        runner_seterr(err, "cannot open /dev/null or a pipe: %s",
                      strerror(errno));
        return -1;
    }
    return 0;
}

static void runner_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Kills what is left of the run, then reads the rest of its output. */
static void runner_finish(struct runner_run_state *st)
{
    kill(-st->pid, SIGKILL); /* stragglers in the child's process group */
    runner_sweep();          /* stragglers that left it (setsid) */
    runner_active_pgid = 0;
    /* Every writer is dead now: what is left in the pipe ends with EOF. */
    if (st->spec->capture != NULL && st->outfd >= 0 && !st->eof)
        runner_drain(st->spec->capture, st->outfd, st->pid);
}

static void runner_capture_reset(struct runner_capture *cap)
{
    if (cap == NULL)
        return;
    cap->len = 0;
    cap->total = 0;
    cap->killed = 0;
    if (cap->size > 0)
        cap->buf[0] = '\0';
}

int runner_run(const struct runner_spec *spec, struct runner_result *res,
               char err[RUNNER_ERR_LEN])
{
    struct runner_run_state st = { spec, -1, -1, 0, 0, 0 };
    int outfd[2] = { -1, -1 }, nullfd = -1, statfd[2] = { -1, -1 };
    double start = runner_now(), cpu0 = runner_children_cpu();
    int rc = -1;

    runner_capture_reset(spec->capture);
    if (runner_open_files(spec, outfd, &nullfd, statfd, err) < 0)
        goto err;
    st.pid = fork();
    if (st.pid < 0) {
        runner_seterr(err, "fork: %s", strerror(errno));
        goto err;
    }
    if (st.pid == 0)
        runner_child(spec, outfd[1], nullfd, statfd[1]);
    runner_active_pgid = (sig_atomic_t)st.pid;
    st.outfd = outfd[0];
    runner_close(&outfd[1]);
    runner_close(&statfd[1]);
    if (runner_check_exec(spec, statfd[0], err) < 0) {
        waitpid(st.pid, NULL, 0);
        goto err;
    }
    if (runner_wait(&st) < 0) {
        runner_seterr(err, "waitpid: %s", strerror(errno));
        goto err;
    }
    runner_fill_result(res, st.wstatus, st.timed_out);
    res->pid = (long)st.pid;
    rc = 0;

err:
    if (st.pid > 0)
        runner_finish(&st);
    if (rc == 0 && spec->capture != NULL && spec->log_path != NULL)
        runner_save_capture(spec->capture, spec->log_path);
    runner_close(&outfd[0]);
    runner_close(&outfd[1]);
    runner_close(&nullfd);
    runner_close(&statfd[0]);
    runner_close(&statfd[1]);
    res->wall_s = runner_now() - start;
    res->cpu_s = runner_children_cpu() - cpu0;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

int runner_mkdir_p(const char *path, char err[RUNNER_ERR_LEN])
{
    char buf[PATH_MAX];
    struct stat st;
    size_t len = strlen(path), i;

    if (len == 0 || len >= sizeof(buf)) {
        runner_seterr(err, "invalid directory path '%s'", path);
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            runner_seterr(err, "cannot create %s: %s", buf,
                          strerror(errno));
            return -1;
        }
        buf[i] = path[i];
    }
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        runner_seterr(err, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

static int runner_remove_at(int dirfd, const char *name, int depth);

/* Removes every entry of the directory open as fd; always closes fd. */
static int runner_empty_fd(int fd, int depth)
{
    struct dirent *de;
    DIR *dir = fdopendir(fd);
    int rc = 0;

    if (dir == NULL) {
        close(fd);
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (runner_remove_at(dirfd(dir), de->d_name, depth) < 0)
            rc = -1;
    }
    closedir(dir);
    return rc;
}

static int runner_remove_at(int dirfd, const char *name, int depth)
{
    struct stat st;
    int fd;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0);
    if (depth >= RUNNER_MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || runner_empty_fd(fd, depth + 1) < 0)
        return -1;
    return unlinkat(dirfd, name, AT_REMOVEDIR);
}

int runner_clear_dir(const char *path, char err[RUNNER_ERR_LEN])
{
    int fd;

    if (runner_mkdir_p(path, err) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || runner_empty_fd(fd, 0) < 0) {
        runner_seterr(err, "cannot empty %s: %s", path,
                      strerror(errno));
        return -1;
    }
    return 0;
}
