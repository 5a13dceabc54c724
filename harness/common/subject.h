/*
 * subject.h - the judge's side of a subject: a program built from the
 * student's code, started by the judge in a sandbox, talked to over pipes,
 * and watched from outside.
 *
 * The judge (the Criterion tests, the benchmark drivers) never links the
 * student's code.  It starts a subject program (a small driver per exercise,
 * or the student's server), plays its peers (servers, clients, receivers) on
 * its own event_base, and asserts only on what it observes itself: requests
 * at its servers, frames at its clients, times on its own clock, files after
 * the subject stopped, the subject's CPU time from /proc.  What a subject
 * answers is a claim, checked against inputs the judge chose (see
 * docs/en/grading.md, "Trust model").
 *
 * Where the subject program is found: the folder in the environment
 * variable WB_SUBJECT_DIR, else the folder of the judge's own executable.
 * The reference's subjects (for tests that compare with the reference in
 * the same run): WB_REF_SUBJECT_DIR.
 *
 * The sandbox of a subject (see sandbox.h):
 *   - as root: its own uid and gid (WB_SUBJECT_UID, default 64000), no
 *     supplementary groups, RLIMIT_NPROC 64;
 *   - no_new_privs, a seccomp filter, Landlock where the kernel has it:
 *     read the system libraries, write only its scratch folder;
 *   - rlimits: address space (WB_SUBJECT_MEMORY_MB, default 1024), CPU
 *     (WB_SUBJECT_CPU_S, default 60), file size 64 MiB, 4096 files, no core;
 *   - a clean environment; it dies with the judge (PR_SET_PDEATHSIG).
 * The subject's working directory is a fresh scratch folder under
 * WB_SCRATCH (else $TMPDIR or /tmp), removed when the subject is freed
 * (unless WB_KEEP_SCRATCH=1).  Its stdout and stderr go to a log file that
 * subj_output() reads back for failure messages.
 *
 * Debugging by hand: WB_SUBJECT_WRAPPER="valgrind --leak-check=full" (or
 * "gdbserver 127.0.0.1:2345") runs the subject under that command, without
 * the sandbox and without time limits on the judge's waits (x20).  Never in
 * grading: the grader does not pass the variable on.
 *
 * The channel (when spec->channel is set): the subject reads jobs on its
 * fd 3 and writes answers on its fd 4, one JSON object per line (see
 * subject_io.h).  Each line that arrives is stamped with the judge's clock.
 *
 * Single-threaded: everything runs on the caller's event_base thread.
 * Error convention: functions returning int return 0 on success and -1 on
 * failure with a one-line reason in the subject's error buffer (subj_error())
 * or the caller's err buffer.
 */
#ifndef WB_SUBJECT_H
#define WB_SUBJECT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct event_base;
struct subj;

#define SUBJ_ERR_LEN 512

/* What to start. */
struct subj_spec {
    const char *program;         /* file name in the subject folder */
    const char *const *args;     /* argv[1..], NULL-terminated; NULL: none */
    int channel;                 /* 1: open the job/answer channel */
    int reference;               /* 1: from WB_REF_SUBJECT_DIR */
    const char *scratch;         /* reuse this scratch folder (the one of a
                                    stopped subject: a restart); NULL: new */
    int bind_port;               /* a TCP port it may bind (0: none) */
    int stop_signal;             /* how subj_stop() asks it to end: 0 closes
                                    the job channel (a driver returns from
                                    main), else this signal (SIGTERM for a
                                    server) */
    int plain_malloc;            /* 1: glibc's malloc() as it is; 0 (the
                                    tests): MALLOC_PERTURB_ set, so memory
                                    never written reads as garbage, not 0 */
};

/* How a subject ended. */
struct subj_exit {
    int exited;      /* 1: exited (status holds the code) */
    int signaled;    /* 1: killed by a signal (sig holds it) */
    int status, sig;
    int killed_by_judge; /* the judge had to send SIGKILL */
};

/* CPU use of a subject, all threads (ended ones too), seen from outside. */
struct subj_usage {
    double cpu_ms;           /* user + system: the process's CPU clock
                                (clock_getcpuclockid), in ns */
    long voluntary_switches; /* voluntary context switches of its live
                                threads (/proc/PID/task/TID/status) */
    long involuntary_switches;
};

/* One line from the subject, stamped on arrival. */
struct subj_msg {
    json_t *json;    /* owned by the caller after subj_next() */
    double at_ms;    /* fx_now_ms() when the judge read it */
};

/*
 * Starts a subject on base.  Returns it, or NULL with a reason in err (the
 * program is missing, cannot be sandboxed, cannot be executed).
 */
struct subj *subj_start(struct event_base *base, const struct subj_spec *spec, char *err,
                        size_t errlen);

/* Sends one job (a JSON object, borrowed) on the channel.  0 or -1. */
int subj_send(struct subj *s, const json_t *job);

/*
 * Runs base until a line from the subject is available, the subject dies,
 * or timeout_ms pass.  Returns 1 with *out filled, 0 on timeout, -1 when the
 * subject ended (or wrote something that is not a JSON object: see
 * subj_error()).
 */
int subj_next(struct subj *s, double timeout_ms, struct subj_msg *out);

/*
 * subj_send() then subj_next() for the answer: an object whose "id" equals
 * the job's "id" (lines without that id are events and stay queued for
 * subj_next()).  Returns the answer (the caller decrefs it), or NULL on
 * timeout (*timed_out set) or when the subject ended.
 */
json_t *subj_call(struct subj *s, const json_t *job, double timeout_ms, int *timed_out);

/* Waits (as subj_call()) for the answer with this id, without sending. */
json_t *subj_call_wait(struct subj *s, json_int_t id, double timeout_ms, int *timed_out);

/*
 * Runs base for timeout_ms, or until the subject ends.  Returns 1 when it
 * ended (see subj_exit_status()), 0 when it is still running.
 */
int subj_wait_exit(struct subj *s, double timeout_ms);

/*
 * Stops the subject: closes its job channel (and sends spec->stop_signal,
 * when set), waits up to grace_ms for it to exit (running base meanwhile, so
 * that it can finish its conversations with the judge's peers), then sends
 * SIGKILL.  Fills *out.  Idempotent.
 */
void subj_stop(struct subj *s, double grace_ms, struct subj_exit *out);

/* Kills (if running), removes the scratch folder unless keep_scratch, and
 * frees.  NULL is a no-op. */
void subj_free(struct subj *s);
void subj_free_keep_scratch(struct subj *s);

/* The exit of a subject that has ended; NULL while it runs. */
const struct subj_exit *subj_exit_status(const struct subj *s);

/* Describes an exit in words: "exited with status 3", "was killed by
 * signal 11 (Segmentation fault)". */
void subj_exit_describe(const struct subj_exit *e, char *buf, size_t len);

/* Reads the subject's CPU use now (also after it ended: then from wait4). */
int subj_usage(const struct subj *s, struct subj_usage *u);

pid_t subj_pid(const struct subj *s);
const char *subj_scratch(const struct subj *s);  /* absolute path */
const char *subj_error(const struct subj *s);    /* last reason, "" if none */
const char *subj_program_path(const struct subj *s);

/*
 * The last max bytes of the subject's stdout and stderr, non-printable
 * bytes shown as '?', in a buffer owned by s (valid until the next call).
 * "" when it printed nothing.
 */
const char *subj_output(struct subj *s, size_t max);

/*
 * For a server subject started with --port P (P from fx_unused_port(), and
 * spec->bind_port = P): runs base until a TCP connection to 127.0.0.1:P
 * succeeds (1), the subject ends (-1, see subj_error()), or timeout_ms pass
 * (0).  The connection is closed at once.
 */
int subj_wait_listening(struct subj *s, int port, double timeout_ms);

/*
 * For the timing judges: pins the calling process, and so the subjects it
 * starts afterwards, to one CPU (WB_BENCH_CPU, else the last CPU it may run
 * on), so that the judge and the subject always share a core.  Measured on
 * 2 cores: a subject's CPU time varies by up to half from one run to the
 * next when the two may run on different cores (loopback wake-ups and
 * network processing land on one or the other), and by about 2 % when they
 * share one.  Returns the CPU, or -1.
 */
int subj_pin_to_one_cpu(void);

/* 1 when the subjects of this run have the Landlock file sandbox; 0 when
 * the kernel lacks it (the report says so). */
int subj_landlock_available(void);

/* The judge's multiplier of its waits: 20 under WB_SUBJECT_WRAPPER, else 1. */
double subj_time_scale(void);

#endif /* WB_SUBJECT_H */
