/*
 * subject.c - starting, talking to and watching a sandboxed subject (see
 * subject.h).
 */
#define _GNU_SOURCE 1 /* setresuid, pipe2, AT_EMPTY_PATH, nftw */
#include "subject.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <time.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fixture_server.h"
#include "sandbox.h"

#define SUBJ_DEFAULT_UID 64000
#define SUBJ_NPROC 64
#define SUBJ_FSIZE (64L * 1024 * 1024)
#define SUBJ_NOFILE 4096
#define SUBJ_MAX_LINE (64u * 1024 * 1024)
#define SUBJ_QUEUE_MAX 65536
#define SUBJ_MAX_ARGS 64

struct subj {
    struct event_base *base;
    pid_t pid;
    struct bufferevent *bev;      /* the judge's end of the channel */
    int channel_open;             /* we may still send */
    int eof;                      /* the subject's end is closed */
    int ended;                    /* reaped: exit holds how */
    struct subj_exit exit;
    struct rusage rusage;         /* of the ended subject */
    struct subj_msg *queue;       /* lines read, not yet taken */
    size_t qhead, qlen, qcap;
    int own_scratch;              /* created here: remove it at free */
    int stop_signal;              /* spec->stop_signal */
    int plain_malloc;             /* spec->plain_malloc */
    char scratch[PATH_MAX];
    char log[PATH_MAX];
    char program[PATH_MAX];
    char err[SUBJ_ERR_LEN];
    char *outbuf;                 /* subj_output()'s buffer */
};

static int subj_landlock_state = -1;

/* snprintf that tells when it truncated (-1); a path too long for a
 * message is cut, never overflowed. */
static int subj_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int subj_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

double subj_time_scale(void)
{
    const char *w = getenv("WB_SUBJECT_WRAPPER");

    return w != NULL && w[0] != '\0' ? 20.0 : 1.0;
}

int subj_landlock_available(void)
{
    if (subj_landlock_state < 0)
        subj_landlock_state = wb_landlock_abi() > 0;
    return subj_landlock_state;
}

static long subj_env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n;

    if (v == NULL || v[0] == '\0')
        return def;
    n = strtol(v, &end, 10);
    return *end != '\0' || n < min || n > max ? def : n;
}

/* The folder of the subjects: WB_SUBJECT_DIR (or WB_REF_SUBJECT_DIR), else
 * the folder of this executable. */
static int subj_dir(int reference, char *out, size_t len)
{
    const char *env = getenv(reference ? "WB_REF_SUBJECT_DIR" : "WB_SUBJECT_DIR");
    char self[PATH_MAX];
    ssize_t n;
    char *slash;

    if (env != NULL && env[0] != '\0') {
        if (realpath(env, out) == NULL)
            snprintf(out, len, "%s", env);
        return 0;
    }
    if (reference)
        return -1;
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    snprintf(out, len, "%s", self);
    return 0;
}

/* The ELF interpreter of the program (PT_INTERP), "" when static. */
static void subj_interp(int fd, char *out, size_t len)
{
    struct stat st;
    unsigned char *map;

    out[0] = '\0';
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr))
        return;
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(void *)map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
        eh->e_phoff > 0 &&
        eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) <= (size_t)st.st_size) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(void *)(map + eh->e_phoff);
        for (int i = 0; i < eh->e_phnum; i++) {
            if (ph[i].p_type != PT_INTERP || ph[i].p_offset + ph[i].p_filesz > (size_t)st.st_size ||
                ph[i].p_filesz == 0 || ph[i].p_filesz >= len)
                continue;
            memcpy(out, map + ph[i].p_offset, ph[i].p_filesz);
            out[ph[i].p_filesz - 1] = '\0';
        }
    }
    munmap(map, (size_t)st.st_size);
}

static int subj_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void subj_rm_rf(const char *path)
{
    nftw(path, subj_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the channel -------------------------------------------------------- */

static int subj_queue_push(struct subj *s, json_t *j, double at)
{
    if (s->qhead + s->qlen == s->qcap) {
        if (s->qhead > 0) {
            memmove(s->queue, s->queue + s->qhead, s->qlen * sizeof(*s->queue));
            s->qhead = 0;
        } else {
            size_t cap = s->qcap ? s->qcap * 2 : 64;
            struct subj_msg *q;
            if (cap > SUBJ_QUEUE_MAX)
                return -1;
            q = realloc(s->queue, cap * sizeof(*q));
            if (q == NULL)
                return -1;
            s->queue = q;
            s->qcap = cap;
        }
    }
    s->queue[s->qhead + s->qlen].json = j;
    s->queue[s->qhead + s->qlen].at_ms = at;
    s->qlen++;
    return 0;
}

static void subj_channel_fail(struct subj *s, const char *why)
{
    if (s->err[0] == '\0')
        snprintf(s->err, sizeof(s->err), "%s", why);
    s->eof = 1;
    if (s->pid > 0 && !s->ended)
        kill(s->pid, SIGKILL);
}

static void subj_read_cb(struct bufferevent *bev, void *arg)
{
    struct subj *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    double now = fx_now_ms();
    size_t n;
    char *line;

    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        json_error_t jerr;
        json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(j)) {
            char why[200];
            snprintf(why, sizeof(why), "the subject wrote a line that is not a JSON object on "
                     "its answer channel (%.60s%s)", line, n > 60 ? "..." : "");
            json_decref(j);
            free(line);
            subj_channel_fail(s, why);
            return;
        }
        free(line);
        if (subj_queue_push(s, j, now) < 0) {
            json_decref(j);
            subj_channel_fail(s, "the subject wrote too many lines on its answer channel");
            return;
        }
    }
    if (evbuffer_get_length(in) > SUBJ_MAX_LINE)
        subj_channel_fail(s, "the subject wrote a line of more than 64 MiB on its answer channel");
}

static void subj_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct subj *s = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        s->eof = 1;
        s->channel_open = 0;
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    }
}

/* ---- reaping ------------------------------------------------------------ */

static void subj_record_exit(struct subj *s, int status, const struct rusage *ru)
{
    s->ended = 1;
    if (ru != NULL)
        s->rusage = *ru;
    if (WIFEXITED(status)) {
        s->exit.exited = 1;
        s->exit.status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        s->exit.signaled = 1;
        s->exit.sig = WTERMSIG(status);
    }
}

/* Reaps without waiting; 1 when the subject has ended. */
static int subj_poll_exit(struct subj *s)
{
    int status;
    struct rusage ru;
    pid_t r;

    if (s->ended)
        return 1;
    if (s->pid <= 0)
        return 1;
    r = wait4(s->pid, &status, WNOHANG, &ru);
    if (r == s->pid) {
        subj_record_exit(s, status, &ru);
        return 1;
    }
    if (r < 0 && errno == ECHILD) {
        s->ended = 1;
        return 1;
    }
    return 0;
}

const struct subj_exit *subj_exit_status(const struct subj *s)
{
    return s->ended ? &s->exit : NULL;
}

void subj_exit_describe(const struct subj_exit *e, char *buf, size_t len)
{
    if (e->signaled)
        snprintf(buf, len, "was killed by signal %d (%s)%s", e->sig, strsignal(e->sig),
                 e->killed_by_judge ? " sent by the judge, as it did not stop in time" : "");
    else if (e->exited)
        snprintf(buf, len, "exited with status %d", e->status);
    else
        snprintf(buf, len, "ended");
}

/* ---- running the loop --------------------------------------------------- */

static void subj_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs base until cond(s) or timeout_ms; 1 when cond held. */
static int subj_run_until(struct subj *s, int (*cond)(struct subj *, void *), void *arg,
                          double timeout_ms)
{
    int expired = 0, ok;
    double scaled = timeout_ms * subj_time_scale();
    struct timeval tv = { (time_t)(scaled / 1000), (suseconds_t)((long)scaled % 1000) * 1000 };
    /* While the channel is closed but the process lives, poll its exit. */
    struct timeval poll_tv = { 0, 10 * 1000 };
    struct event *deadline = evtimer_new(s->base, subj_deadline_cb, &expired);
    int tick = 0;
    struct event *poll = evtimer_new(s->base, subj_deadline_cb, &tick);

    if (deadline == NULL || poll == NULL) {
        if (deadline)
            event_free(deadline);
        if (poll)
            event_free(poll);
        return cond(s, arg);
    }
    evtimer_add(deadline, &tv);
    while (!(ok = cond(s, arg)) && !expired) {
        if (s->eof && !s->ended) {
            if (subj_poll_exit(s))
                continue;
            tick = 0;
            evtimer_add(poll, &poll_tv);
        }
        event_base_loop(s->base, EVLOOP_ONCE);
    }
    event_free(deadline);
    event_free(poll);
    return ok;
}

static int cond_line_or_end(struct subj *s, void *arg)
{
    (void)arg;
    return s->qlen > 0 || s->eof;
}

static int cond_ended(struct subj *s, void *arg)
{
    (void)arg;
    return s->eof ? subj_poll_exit(s) : 0;
}

int subj_next(struct subj *s, double timeout_ms, struct subj_msg *out)
{
    subj_run_until(s, cond_line_or_end, NULL, timeout_ms);
    if (s->qlen > 0) {
        *out = s->queue[s->qhead];
        s->qhead++;
        s->qlen--;
        if (s->qlen == 0)
            s->qhead = 0;
        return 1;
    }
    if (s->eof) {
        /* Give the exit status a moment to arrive after the EOF. */
        subj_run_until(s, cond_ended, NULL, 200);
        if (s->err[0] == '\0') {
            char how[160];
            if (s->ended) {
                subj_exit_describe(&s->exit, how, sizeof(how));
                snprintf(s->err, sizeof(s->err), "the subject %s", how);
            } else {
                snprintf(s->err, sizeof(s->err), "the subject closed its answer channel");
            }
        }
        return -1;
    }
    return 0;
}

int subj_send(struct subj *s, const json_t *job)
{
    char *text;
    int rc;

    if (!s->channel_open || s->eof) {
        snprintf(s->err, sizeof(s->err), "the subject's job channel is closed");
        return -1;
    }
    text = json_dumps(job, JSON_COMPACT);
    if (text == NULL) {
        snprintf(s->err, sizeof(s->err), "cannot encode the job");
        return -1;
    }
    rc = bufferevent_write(s->bev, text, strlen(text)) == 0 &&
                 bufferevent_write(s->bev, "\n", 1) == 0
             ? 0
             : -1;
    free(text);
    if (rc < 0)
        snprintf(s->err, sizeof(s->err), "cannot queue the job");
    return rc;
}

struct call_wait {
    json_int_t id;
    size_t found;   /* index in the queue + 1 */
};

static int cond_answer(struct subj *s, void *arg)
{
    struct call_wait *w = arg;

    for (size_t i = 0; i < s->qlen; i++) {
        json_t *id = json_object_get(s->queue[s->qhead + i].json, "id");
        if (json_is_integer(id) && json_integer_value(id) == w->id) {
            w->found = i + 1;
            return 1;
        }
    }
    return s->eof;
}

json_t *subj_call_wait(struct subj *s, json_int_t id, double timeout_ms, int *timed_out)
{
    struct call_wait w = { id, 0 };
    json_t *answer;

    if (timed_out != NULL)
        *timed_out = 0;
    if (!subj_run_until(s, cond_answer, &w, timeout_ms) || w.found == 0) {
        if (s->eof) {
            struct subj_msg m;
            /* Fills s->err with how the subject ended. */
            while (subj_next(s, 0, &m) == 1)
                json_decref(m.json);
        } else if (timed_out != NULL) {
            *timed_out = 1;
        }
        return NULL;
    }
    answer = s->queue[s->qhead + w.found - 1].json;
    memmove(s->queue + s->qhead + w.found - 1, s->queue + s->qhead + w.found,
            (s->qlen - w.found) * sizeof(*s->queue));
    s->qlen--;
    return answer;
}

json_t *subj_call(struct subj *s, const json_t *job, double timeout_ms, int *timed_out)
{
    if (timed_out != NULL)
        *timed_out = 0;
    if (subj_send(s, job) < 0)
        return NULL;
    return subj_call_wait(s, json_integer_value(json_object_get(job, "id")), timeout_ms,
                          timed_out);
}

int subj_wait_exit(struct subj *s, double timeout_ms)
{
    subj_run_until(s, cond_ended, NULL, timeout_ms);
    if (!s->ended && s->eof)
        subj_poll_exit(s);
    if (!s->ended && !s->eof)
        return subj_poll_exit(s);
    return s->ended;
}

/* ---- start -------------------------------------------------------------- */

/* Everything the child needs, prepared before fork (the child only makes
 * system calls). */
struct subj_launch {
    int binfd, chanfd, logfd, scratchfd, errfd, ruleset;
    int drop;                /* setuid to uid */
    uid_t uid;
    pid_t parent;
    struct rlimit as, cpu, nproc;
    int nproc_set, sanitizer;
    char *const *argv;
    char *const *envp;
    const char *wrapper_path;   /* exec this (PATH lookup done) instead */
};

static void child_fail(int errfd, int stage)
{
    int e[2] = { stage, errno };
    ssize_t w = write(errfd, e, sizeof(e));

    (void)w;
    _exit(127);
}

static void subj_child(const struct subj_launch *l)
{
    int hi_chan, hi_log, hi_bin, hi_err, hi_ruleset = -1;
    struct rlimit fsize = { SUBJ_FSIZE, SUBJ_FSIZE }, nofile = { SUBJ_NOFILE, SUBJ_NOFILE };
    struct rlimit core = { 0, 0 };
    struct wb_seccomp filter;
    char err[64];
    int devnull;

    setpgid(0, 0);
    /* Move what we keep above the target numbers, then place it. */
    hi_chan = fcntl(l->chanfd, F_DUPFD_CLOEXEC, 100);
    hi_log = fcntl(l->logfd, F_DUPFD_CLOEXEC, 100);
    hi_bin = l->binfd >= 0 ? fcntl(l->binfd, F_DUPFD_CLOEXEC, 100) : -1;
    hi_err = fcntl(l->errfd, F_DUPFD_CLOEXEC, 100);
    if (l->ruleset >= 0)
        hi_ruleset = fcntl(l->ruleset, F_DUPFD_CLOEXEC, 100);
    if (hi_chan < 0 || hi_log < 0 || hi_err < 0)
        child_fail(l->errfd, 1);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(hi_log, 1) < 0 || dup2(hi_log, 2) < 0 ||
        dup2(hi_chan, 3) < 0 || dup2(hi_chan, 4) < 0)
        child_fail(hi_err, 2);
    /* Whatever else the judge had open is closed at exec. */
    if (syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        for (int fd = 5; fd < 100; fd++)
            close(fd);
    if (fchdir(l->scratchfd) < 0 && l->scratchfd >= 0)
        child_fail(hi_err, 3);
    if (setrlimit(RLIMIT_FSIZE, &fsize) < 0 || setrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
        setrlimit(RLIMIT_CORE, &core) < 0 || setrlimit(RLIMIT_CPU, &l->cpu) < 0 ||
        (l->as.rlim_cur != RLIM_INFINITY && setrlimit(RLIMIT_AS, &l->as) < 0))
        child_fail(hi_err, 4);
    if (l->drop) {
        gid_t gid = (gid_t)l->uid;
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(l->uid, l->uid, l->uid) < 0)
            child_fail(hi_err, 5);
    }
    if (l->nproc_set && setrlimit(RLIMIT_NPROC, &l->nproc) < 0)
        child_fail(hi_err, 6);
    /* Die with the judge (cleared by setuid, so set after it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != l->parent)
        _exit(127);
    if (l->wrapper_path != NULL) {
        execv(l->wrapper_path, l->argv);
        child_fail(hi_err, 9);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(hi_err, 7);
    if (hi_ruleset >= 0 && wb_landlock_restrict(hi_ruleset) < 0)
        child_fail(hi_err, 8);
    if (wb_seccomp_build(&filter, WB_SECCOMP_ALLOW_EXEC | (l->sanitizer ? WB_SECCOMP_SANITIZER : 0),
                         (int)getpid(), err, sizeof(err)) < 0 ||
        wb_seccomp_install(&filter) < 0)
        child_fail(hi_err, 10);
    syscall(SYS_execveat, hi_bin, "", l->argv, l->envp, AT_EMPTY_PATH);
    child_fail(hi_err, 11);
}

static const char *subj_stage_name(int stage)
{
    switch (stage) {
    case 1: case 2: return "set up its file descriptors";
    case 3: return "enter its scratch folder";
    case 4: return "set its resource limits";
    case 5: return "switch to the subject's user id";
    case 6: return "limit its processes";
    case 7: return "set no_new_privs";
    case 8: return "apply the Landlock rules";
    case 9: return "run WB_SUBJECT_WRAPPER";
    case 10: return "install the seccomp filter";
    default: return "execute the program";
    }
}

/* Splits WB_SUBJECT_WRAPPER on spaces into argv[0..]; returns the count. */
static int subj_split(char *text, char **argv, int max)
{
    int n = 0;

    for (char *tok = strtok(text, " \t"); tok != NULL && n < max; tok = strtok(NULL, " \t"))
        argv[n++] = tok;
    return n;
}

/* Finds cmd in PATH (or as a path). */
static int subj_which(const char *cmd, char *out, size_t len)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX], *save = NULL, *dir, *copy;

    if (strchr(cmd, '/') != NULL) {
        snprintf(out, len, "%s", cmd);
        return access(out, X_OK);
    }
    copy = strdup(path ? path : "/usr/bin:/bin");
    if (copy == NULL)
        return -1;
    for (dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        snprintf(buf, sizeof(buf), "%s/%s", dir, cmd);
        if (access(buf, X_OK) == 0) {
            snprintf(out, len, "%s", buf);
            free(copy);
            return 0;
        }
    }
    free(copy);
    return -1;
}

/* Builds the subject's environment into env (pointers into store). */
static void subj_env(const struct subj *s, char **env, size_t max, char *store, size_t storelen)
{
    static const char *const pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                                        "ASAN_SYMBOLIZER_PATH", "LANG", "LC_ALL", NULL };
    size_t n = 0, used = 0;
    const char *cov = getenv("WB_COVERAGE_DIR");

#define ADD(...)                                                                       \
    do {                                                                              \
        int k = snprintf(store + used, storelen - used, __VA_ARGS__);                  \
        if (k > 0 && (size_t)k < storelen - used && n + 1 < max) {                     \
            env[n++] = store + used;                                                   \
            used += (size_t)k + 1;                                                     \
        }                                                                              \
    } while (0)
    ADD("PATH=/usr/bin:/bin");
    ADD("HOME=%s", s->scratch);
    ADD("TMPDIR=%s", s->scratch);
    ADD("SQLITE_TMPDIR=%s", s->scratch);
    ADD("WB_REQUIRE_SANDBOX=1");
    /* glibc fills each block malloc() returns with 0x5a and each freed one
     * with 0xa5: a string left without its '\0', a field never set, a read
     * after free() show garbage instead of the zeros of fresh pages, and the
     * test that looks at them fails.  (ASan ignores it and fills blocks
     * itself.) */
    if (!s->plain_malloc)
        ADD("MALLOC_PERTURB_=165");
    for (size_t i = 0; pass[i] != NULL; i++)
        if (getenv(pass[i]) != NULL)
            ADD("%s=%s", pass[i], getenv(pass[i]));
    if (cov != NULL && cov[0] != '\0') {
        ADD("GCOV_PREFIX=%s", cov);
        ADD("GCOV_PREFIX_STRIP=0");
    }
#undef ADD
    env[n] = NULL;
}

static int subj_make_scratch(struct subj *s, const struct subj_spec *spec, uid_t uid, int drop)
{
    const char *base = getenv("WB_SCRATCH");

    if (spec->scratch != NULL) {
        if (realpath(spec->scratch, s->scratch) == NULL) {
            snprintf(s->err, sizeof(s->err), "scratch folder %s: %s", spec->scratch,
                     strerror(errno));
            return -1;
        }
        s->own_scratch = 0;
    } else {
        if (base == NULL || base[0] == '\0')
            base = getenv("TMPDIR");
        if (base == NULL || base[0] == '\0')
            base = "/tmp";
        if (mkdir(base, 0755) < 0 && errno != EEXIST) {
            snprintf(s->err, sizeof(s->err), "cannot create %s: %s", base, strerror(errno));
            return -1;
        }
        snprintf(s->scratch, sizeof(s->scratch), "%s/subject-XXXXXX", base);
        if (mkdtemp(s->scratch) == NULL) {
            snprintf(s->err, sizeof(s->err), "mkdtemp in %s: %s", base, strerror(errno));
            return -1;
        }
        s->own_scratch = 1;
        if (getenv("WB_KEEP_SCRATCH") != NULL && strcmp(getenv("WB_KEEP_SCRATCH"), "1") == 0)
            s->own_scratch = 0;
    }
    if (drop && chown(s->scratch, uid, (gid_t)uid) < 0) {
        subj_fmt(s->err, sizeof(s->err), "chown %s: %s", s->scratch, strerror(errno));
        return -1;
    }
    if (subj_fmt(s->log, sizeof(s->log), "%s.log", s->scratch) < 0) {
        subj_fmt(s->err, sizeof(s->err), "path too long: %s", s->scratch);
        return -1;
    }
    return 0;
}

/* The suppressions files named in the sanitizers' options: the subject
 * may read them ("" where there is none: a path that is skipped). */
static void subj_suppressions(char out[3][PATH_MAX])
{
    static const char *const vars[3] = { "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS" };

    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]), *p = v ? strstr(v, "suppressions=") : NULL;
        out[i][0] = '\0';
        if (p != NULL)
            snprintf(out[i], PATH_MAX, "%.*s", (int)strcspn(p + 13, ":"), p + 13);
    }
}

struct subj *subj_start(struct event_base *base, const struct subj_spec *spec, char *err,
                        size_t errlen)
{
    struct subj *s = calloc(1, sizeof(*s));
    char dir[PATH_MAX], interp[PATH_MAX] = "";
    char *argv[SUBJ_MAX_ARGS + 8], *env[32], envstore[8192], *wrapper = NULL;
    char wrapper_path[PATH_MAX];
    const char *wenv = getenv("WB_SUBJECT_WRAPPER");
    int sv[2] = { -1, -1 }, errpipe[2] = { -1, -1 }, binfd = -1, logfd = -1, scratchfd = -1;
    int ruleset = -1, argc = 0, ports[2] = { spec->bind_port, 0 };
    uid_t uid = (uid_t)subj_env_long("WB_SUBJECT_UID", SUBJ_DEFAULT_UID, 1, 2000000000);
    int drop = geteuid() == 0 && getenv("WB_SUBJECT_SAME_UID") == NULL;
    struct subj_launch l;
    pid_t pid;
    int e[2];
    ssize_t n;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->pid = -1;
    s->stop_signal = spec->stop_signal;
    s->plain_malloc = spec->plain_malloc;
    if (wenv != NULL && wenv[0] != '\0')
        drop = 0;   /* debugging by hand: the student's own tools */
    if (subj_dir(spec->reference, dir, sizeof(dir)) < 0) {
        snprintf(err, errlen, "no folder of %s subjects: set %s",
                 spec->reference ? "reference" : "student",
                 spec->reference ? "WB_REF_SUBJECT_DIR" : "WB_SUBJECT_DIR");
        goto fail;
    }
    if (subj_fmt(s->program, sizeof(s->program), "%s/%s", dir, spec->program) < 0) {
        snprintf(err, errlen, "path too long");
        goto fail;
    }
    binfd = open(s->program, O_RDONLY | O_CLOEXEC);
    if (binfd < 0) {
        snprintf(err, errlen, "cannot open the subject program %s: %s (was it built?)",
                 s->program, strerror(errno));
        goto fail;
    }
    subj_interp(binfd, interp, sizeof(interp));
    if (subj_make_scratch(s, spec, uid, drop) < 0) {
        snprintf(err, errlen, "%s", s->err);
        goto fail;
    }
    scratchfd = open(s->scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (scratchfd < 0 || logfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        pipe2(errpipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot prepare the subject: %s", strerror(errno));
        goto fail;
    }
    if (drop && fchown(logfd, uid, (gid_t)uid) < 0) {
        snprintf(err, errlen, "chown %s: %s", s->log, strerror(errno));
        goto fail;
    }

    /* argv: [wrapper...] program args... */
    if (wenv != NULL && wenv[0] != '\0') {
        wrapper = strdup(wenv);
        if (wrapper == NULL)
            goto fail;
        argc = subj_split(wrapper, argv, 8);
        if (argc == 0 || subj_which(argv[0], wrapper_path, sizeof(wrapper_path)) < 0) {
            snprintf(err, errlen, "WB_SUBJECT_WRAPPER: cannot find %s", argc ? argv[0] : "a command");
            goto fail;
        }
        argv[argc++] = s->program;
    } else {
        argv[argc++] = (char *)spec->program;
    }
    for (size_t i = 0; spec->args != NULL && spec->args[i] != NULL; i++) {
        if (argc >= SUBJ_MAX_ARGS) {
            snprintf(err, errlen, "too many arguments");
            goto fail;
        }
        argv[argc++] = (char *)spec->args[i];
    }
    argv[argc] = NULL;
    subj_env(s, env, sizeof(env) / sizeof(env[0]), envstore, sizeof(envstore));

    if (wrapper == NULL) {
        const char *cov = getenv("WB_COVERAGE_DIR");
        /* A sanitizer reads /proc/self (maps, task): Landlock's ptrace
         * rule and the other uid still keep other processes' files away. */
        char supp[3][PATH_MAX];
        const char *read[] = { "/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache",
                               "/etc/localtime", "/etc/hosts", "/etc/nsswitch.conf",
                               "/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf",
                               "/dev/urandom", "/dev/random", "/dev/zero",
                               supp[0], supp[1], supp[2],
                               getenv("WB_SUBJECT_SANITIZER") ? "/proc" : NULL, NULL };
        const char *exec[] = { s->program, interp[0] ? interp : NULL, NULL };
        const char *write[] = { s->scratch, "/dev/null", cov && cov[0] ? cov : NULL, NULL };
        struct wb_landlock_spec ll = { read, exec, write, ports };
        int abi = 0;
        subj_suppressions(supp);
        ruleset = wb_landlock_build(&ll, &abi, err, errlen);
        if (ruleset == -1)
            goto fail;
        subj_landlock_state = ruleset >= 0;
    }

    memset(&l, 0, sizeof(l));
    l.binfd = binfd;
    l.chanfd = sv[1];
    l.logfd = logfd;
    l.scratchfd = scratchfd;
    l.errfd = errpipe[1];
    l.ruleset = ruleset;
    l.drop = drop;
    l.uid = uid;
    l.parent = getpid();
    l.sanitizer = getenv("WB_SUBJECT_SANITIZER") != NULL;
    l.as.rlim_cur = l.as.rlim_max =
        l.sanitizer || wrapper ? RLIM_INFINITY
                               : (rlim_t)subj_env_long("WB_SUBJECT_MEMORY_MB", 1024, 64, 65536) << 20;
    l.cpu.rlim_cur = l.cpu.rlim_max =
        wrapper ? RLIM_INFINITY : (rlim_t)subj_env_long("WB_SUBJECT_CPU_S", 60, 1, 3600);
    if (drop) {
        l.nproc.rlim_cur = l.nproc.rlim_max = SUBJ_NPROC;
        l.nproc_set = 1;
    }
    l.argv = argv;
    l.envp = env;
    l.wrapper_path = wrapper ? wrapper_path : NULL;

    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        subj_child(&l);
    s->pid = pid;
    close(sv[1]);
    sv[1] = -1;
    close(errpipe[1]);
    errpipe[1] = -1;
    n = read(errpipe[0], e, sizeof(e));
    if (n == (ssize_t)sizeof(e)) {
        snprintf(err, errlen, "the sandbox could not %s for %s: %s", subj_stage_name(e[0]),
                 s->program, strerror(e[1]));
        waitpid(pid, NULL, 0);
        s->pid = -1;
        goto fail;
    }
    close(errpipe[0]);
    errpipe[0] = -1;
    if (ruleset >= 0)
        close(ruleset);
    ruleset = -1;
    close(binfd);
    close(logfd);
    close(scratchfd);
    binfd = logfd = scratchfd = -1;
    free(wrapper);
    wrapper = NULL;

    evutil_make_socket_nonblocking(sv[0]);
    s->bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL) {
        snprintf(err, errlen, "bufferevent_socket_new failed");
        close(sv[0]);
        goto fail;
    }
    sv[0] = -1;
    bufferevent_setcb(s->bev, subj_read_cb, NULL, subj_event_cb, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->channel_open = 1;
    return s;

fail:
    free(wrapper);
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0)
            close(sv[i]);
        if (errpipe[i] >= 0)
            close(errpipe[i]);
    }
    if (binfd >= 0)
        close(binfd);
    if (logfd >= 0)
        close(logfd);
    if (scratchfd >= 0)
        close(scratchfd);
    if (ruleset >= 0)
        close(ruleset);
    subj_free(s);
    return NULL;
}

/* ---- stop, free --------------------------------------------------------- */

void subj_stop(struct subj *s, double grace_ms, struct subj_exit *out)
{
    if (s == NULL)
        return;
    if (!s->ended && s->pid > 0) {
        if (s->bev != NULL && s->channel_open) {
            /* EOF on the subject's job channel: a driver's cue to return. */
            bufferevent_flush(s->bev, EV_WRITE, BEV_FINISHED);
            shutdown(bufferevent_getfd(s->bev), SHUT_WR);
            s->channel_open = 0;
        }
        if (s->stop_signal > 0)
            kill(s->pid, s->stop_signal);
        if (!subj_wait_exit(s, grace_ms)) {
            kill(s->pid, SIGKILL);
            s->exit.killed_by_judge = 1;
            int status;
            struct rusage ru;
            if (wait4(s->pid, &status, 0, &ru) == s->pid)
                subj_record_exit(s, status, &ru);
            s->ended = 1;
        }
    }
    if (out != NULL)
        *out = s->exit;
}

static void subj_free_impl(struct subj *s, int keep)
{
    if (s == NULL)
        return;
    if (s->pid > 0 && !s->ended) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    if (s->bev != NULL)
        bufferevent_free(s->bev);
    for (size_t i = 0; i < s->qlen; i++)
        json_decref(s->queue[s->qhead + i].json);
    free(s->queue);
    if (s->own_scratch && !keep && s->scratch[0] != '\0') {
        subj_rm_rf(s->scratch);
        unlink(s->log);
    }
    free(s->outbuf);
    free(s);
}

void subj_free(struct subj *s)
{
    subj_free_impl(s, 0);
}

void subj_free_keep_scratch(struct subj *s)
{
    subj_free_impl(s, 1);
}

/* ---- observation -------------------------------------------------------- */

pid_t subj_pid(const struct subj *s)
{
    return s->pid;
}

const char *subj_scratch(const struct subj *s)
{
    return s->scratch;
}

const char *subj_error(const struct subj *s)
{
    return s->err;
}

const char *subj_program_path(const struct subj *s)
{
    return s->program;
}

/* Reads one number after `key` in a /proc file; -1 when absent. */
static long long subj_proc_field(const char *path, const char *key)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    long long v = -1;

    if (f == NULL)
        return -1;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        if (strncmp(buf, key, strlen(key)) == 0) {
            v = strtoll(buf + strlen(key), NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

int subj_usage(const struct subj *s, struct subj_usage *u)
{
    char path[128];
    DIR *d;
    struct dirent *de;

    memset(u, 0, sizeof(*u));
    if (s->ended) {
        u->cpu_ms = (double)(s->rusage.ru_utime.tv_sec + s->rusage.ru_stime.tv_sec) * 1e3 +
                    (double)(s->rusage.ru_utime.tv_usec + s->rusage.ru_stime.tv_usec) / 1e3;
        u->voluntary_switches = s->rusage.ru_nvcsw;
        u->involuntary_switches = s->rusage.ru_nivcsw;
        return 0;
    }
    /* The process's CPU clock counts every thread, ended ones too, in ns. */
    {
        clockid_t cid;
        struct timespec ts;
        if (clock_getcpuclockid(s->pid, &cid) == 0 && clock_gettime(cid, &ts) == 0)
            u->cpu_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    }
    snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        subj_fmt(path, sizeof(path), "/proc/%d/task/%s/status", (int)s->pid, de->d_name);
        long long v = subj_proc_field(path, "voluntary_ctxt_switches:");
        long long iv = subj_proc_field(path, "nonvoluntary_ctxt_switches:");
        if (v > 0)
            u->voluntary_switches += (long)v;
        if (iv > 0)
            u->involuntary_switches += (long)iv;
    }
    closedir(d);
    return 0;
}

const char *subj_output(struct subj *s, size_t max)
{
    int fd = open(s->log, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t n = 0;
    ssize_t r;
    char *buf;

    free(s->outbuf);
    s->outbuf = NULL;
    buf = malloc(max + 1);
    if (buf == NULL) {
        if (fd >= 0)
            close(fd);
        return "";
    }
    if (fd >= 0 && fstat(fd, &st) == 0) {
        if ((size_t)st.st_size > max)
            lseek(fd, st.st_size - (off_t)max, SEEK_SET);
        while (n < max && (r = read(fd, buf + n, max - n)) > 0)
            n += (size_t)r;
    }
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\t') ||
            (unsigned char)buf[i] == 0x7f)
            buf[i] = '?';
    buf[n] = '\0';
    s->outbuf = buf;
    return buf;
}

/* ---- servers and timing ------------------------------------------------- */

static int subj_try_connect(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    if (fd < 0)
        return 0;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

static int cond_listening(struct subj *s, void *arg)
{
    (void)s;
    return subj_try_connect(*(int *)arg);
}

int subj_wait_listening(struct subj *s, int port, double timeout_ms)
{
    double t0 = fx_now_ms();

    while (fx_now_ms() - t0 < timeout_ms * subj_time_scale()) {
        if (subj_try_connect(port))
            return 1;
        if (subj_poll_exit(s)) {
            char how[160];
            subj_exit_describe(&s->exit, how, sizeof(how));
            subj_fmt(s->err, sizeof(s->err), "the server %s before it listened on port %d", how,
                     port);
            return -1;
        }
        /* Serve the judge's own peers meanwhile, 5 ms at a time. */
        subj_run_until(s, cond_listening, &port, 5);
    }
    subj_fmt(s->err, sizeof(s->err), "the server did not listen on port %d within %.0f ms", port,
             timeout_ms);
    return 0;
}

int subj_pin_to_one_cpu(void)
{
    cpu_set_t set;
    int cpu = -1;
    long want = subj_env_long("WB_BENCH_CPU", -1, 0, CPU_SETSIZE - 1);

    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set) && (want < 0 || i == want))
            cpu = i;
    if (cpu < 0)
        return -1;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) < 0 ? -1 : cpu;
}
