/*
 * runner.h - run a command (fork/exec, no shell) with resource limits and
 * a wall-clock timeout, and clean up every process it leaves behind.
 *
 * The child gets its own process group (setpgid(0, 0)), stdin from
 * /dev/null and stdout+stderr into a log file, or into a pipe that the
 * caller's struct runner_capture caps (see below). When it exits or times
 * out,
 * its process group is killed with SIGKILL. Because tools such as
 * Criterion put each test worker into a new session (setsid), killing the
 * group is not enough: runner_init makes this process a child subreaper
 * (Linux), so orphaned descendants are re-parented to it, and runner_run
 * kills and reaps all of them before returning.
 *
 * Consequence: the calling process must not start children of its own
 * other than through runner_run, which kills and reaps every child it
 * finds, except those that already existed when runner_init was called.
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * an internal error (cannot fork, cannot open the log, cannot execute the
 * program, ...), with a one-line English message in the caller-owned
 * buffer err (RUNNER_ERR_LEN bytes). Nothing is printed. A child that
 * fails, crashes or times out is NOT an error: see struct runner_result.
 */
#ifndef GRADER_RUNNER_H
#define GRADER_RUNNER_H

#include <stddef.h>

#define RUNNER_ERR_LEN 256
#define RUNNER_FSIZE_LIMIT (64L * 1024 * 1024)
#define RUNNER_NOFILE_LIMIT 4096
#define RUNNER_NPROC_MARGIN 256 /* processes beyond what the user runs */

/*
 * Output capture: the child's stdout and stderr go into one pipe that
 * runner_run reads while it waits, so the child never blocks on a full
 * pipe. The first size - 1 bytes are kept in buf (NUL-terminated; the
 * text may contain NUL bytes, len says how much was kept); the rest is
 * counted and thrown away. Past kill_after bytes, the child's process
 * group is killed at once (a flood of output ends the run early).
 */
struct runner_capture {
    char *buf;                     /* caller-owned, size bytes */
    size_t size;                   /* >= 1 */
    size_t len;                    /* out: bytes kept in buf */
    unsigned long long total;      /* out: bytes the child wrote */
    unsigned long long kill_after; /* 0: never kill for output */
    int killed;                    /* out: killed for writing too much */
};

struct runner_spec {
    const char *const *argv;      /* NULL-terminated; argv[0] looked up in
                                     PATH (execvp) */
    const char *cwd;              /* working directory; NULL: inherit */
    const char *log_path;         /* stdout+stderr, truncated first; with
                                     a capture, what was kept is written
                                     there after the run (NULL: not) */
    int timeout_s;                /* wall-clock limit, > 0 */
    int cpu_limit_s;              /* RLIMIT_CPU; 0: leave unchanged */
    int sandbox;                  /* nonzero: RLIMIT_FSIZE 64 MiB,
                                     RLIMIT_NOFILE 4096, RLIMIT_CORE 0,
                                     and unless root RLIMIT_NPROC (the
                                     user's processes + a margin) */
    const char *const *unset_env; /* NULL-terminated names removed from
                                     the child's environment; NULL: none */
    const char *const *set_env;   /* NULL-terminated "NAME=VALUE" added to
                                     it; NULL: none */
    long memory_mb;               /* RLIMIT_AS in MiB; 0: unchanged */
    struct runner_capture *capture; /* NULL: output into log_path */
};

enum runner_outcome {
    RUNNER_EXITED,    /* status holds the exit code */
    RUNNER_SIGNALED,  /* status holds the signal number */
    RUNNER_TIMED_OUT  /* killed by runner_run after timeout_s */
};

struct runner_result {
    enum runner_outcome outcome;
    int status;
    long pid;      /* the child's process id (gone by the time it returns) */
    double wall_s; /* wall-clock duration */
    double cpu_s;  /* user+system CPU of all processes reaped meanwhile */
};

/*
 * Prepares the process for runner_run: becomes a child subreaper (where
 * supported) and installs SIGINT/SIGTERM/SIGHUP handlers that kill the
 * running child's process group before terminating. Call once.
 */
int runner_init(char err[RUNNER_ERR_LEN]);

/*
 * Marks pid, a child this process started itself (a worker), as one that
 * runner_run's sweep of leftover children must leave alone; returns -1
 * when too many are marked.  runner_unspare() removes the mark once the
 * caller has reaped it.
 */
int runner_spare(int pid);
void runner_unspare(int pid);

/*
 * Runs spec->argv as described above and fills *res. Returns -1 only on an
 * internal error; then *res is undefined.
 */
int runner_run(const struct runner_spec *spec, struct runner_result *res,
               char err[RUNNER_ERR_LEN]);

/*
 * Returns the number of processes (threads included) of the real user id
 * of this process, as RLIMIT_NPROC counts them; -1 when /proc cannot be
 * read.
 */
long runner_count_user_tasks(void);

/* Creates path and its missing parents (mode 0755), like mkdir -p. */
int runner_mkdir_p(const char *path, char err[RUNNER_ERR_LEN]);

/*
 * Makes path an empty directory: creates it if needed, otherwise removes
 * everything inside it (symbolic links are removed, never followed).
 */
int runner_clear_dir(const char *path, char err[RUNNER_ERR_LEN]);

#endif
