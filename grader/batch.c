/*
 * batch.c - a folder of submissions graded by child graders, N at once,
 * into one CSV (see batch.h).
 */
#define _GNU_SOURCE 1 /* nftw's FTW_ACTIONRETVAL */
#include "batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grade.h"
#include "runner.h"

#define BATCH_MAX_ARGS 64

/* One submission of the batch. */
struct batch_item {
    char *name;        /* folder name */
    pid_t pid;         /* child grader, 0 when not running */
    unsigned slot;     /* its job slot (subject uid = base + slot) */
    int status;        /* its wait status, once done */
    int done;
};

static void batch_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, BATCH_ERR_LEN, fmt, ap);
    va_end(ap);
}

static int batch_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int batch_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int batch_cmp(const void *a, const void *b)
{
    return strcmp(((const struct batch_item *)a)->name,
                  ((const struct batch_item *)b)->name);
}

/* ------------------------------------------------------------------ */
/* Submissions                                                         */
/* ------------------------------------------------------------------ */

static int batch_is_dir(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    return n > 0 && (size_t)n < sizeof(path) && lstat(path, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

/* Lists the submission folders of dir, sorted by name. */
static int batch_list(const char *dir, struct batch_item **items, size_t *n,
                      char err[BATCH_ERR_LEN])
{
    struct batch_item *grown;
    struct dirent *de;
    DIR *d = opendir(dir);

    *items = NULL;
    *n = 0;
    if (d == NULL) {
        batch_seterr(err, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !batch_is_dir(dir, de->d_name))
            continue;
        grown = realloc(*items, (*n + 1) * sizeof(*grown));
        if (grown == NULL || (grown[*n].name = strdup(de->d_name)) == NULL) {
            if (grown != NULL)
                *items = grown;
            closedir(d);
            batch_seterr(err, "out of memory");
            return -1;
        }
        grown[*n].pid = 0;
        grown[*n].status = 0;
        grown[*n].done = 0;
        *items = grown;
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(*items, *n, sizeof(**items), batch_cmp);
    return 0;
}

static void batch_free(struct batch_item *items, size_t n)
{
    size_t i;

    for (i = 0; items != NULL && i < n; i++)
        free(items[i].name);
    free(items);
}

/* ------------------------------------------------------------------ */
/* Reference, built once                                               */
/* ------------------------------------------------------------------ */

static int batch_build_reference(const struct batch_opts *o,
                                 const char *ref_build,
                                 char err[BATCH_ERR_LEN])
{
    struct grade_ctx ctx = { .root = o->root, .out = o->out, .reference = o->reference,
                             .ref_prebuilt = o->ref_prebuilt, .ref_build = ref_build,
                             .static_check = 1, .timing = o->timing, .memcheck = 1 };
    char why[512];
    size_t i;

    if (o->reference == NULL)
        return 0;
    for (i = 0; i < o->count; i++) {
        if (!o->quiet)
            fprintf(stderr, "grader: building the reference of %s\n", o->rubrics[i]->exdir);
        if (grade_build_reference(&ctx, o->rubrics[i], why, sizeof(why)) < 0) {
            batch_seterr(err, "%s", why);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* A private copy of the workbook per submission                      */
/* ------------------------------------------------------------------ */

/* What of ROOT/build/ a grading needs: the judges, the kit and the trusted
 * objects the kit links with. */
static const char *const batch_build_parts[] = {
    "build/bin", "build/kit", "build/obj/test", "build/obj/bench", "build/obj/asan", NULL
};

static const char *batch_copy_from, *batch_copy_to;
static size_t batch_copy_skip;  /* length of the root's path + 1 */
static int batch_copy_failed;

static int batch_copy_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    const char *rel = path + batch_copy_skip;
    char dest[PATH_MAX];
    int in, out;
    char buf[65536];
    ssize_t n;

    (void)ftw;
    if (strlen(path) < batch_copy_skip)
        return 0;   /* the root itself */
    if (batch_fmt(dest, sizeof(dest), "%s/%s", batch_copy_to, rel) < 0) {
        batch_copy_failed = 1;
        return 1;
    }
    if (flag == FTW_D)
        return mkdir(dest, 0755) < 0 && errno != EEXIST ? (batch_copy_failed = 1) : 0;
    if (flag != FTW_F || !S_ISREG(sb->st_mode))
        return 0;   /* symbolic links and the like are not part of a workbook */
    in = open(path, O_RDONLY | O_CLOEXEC);
    out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, sb->st_mode & 0555);
    if (in < 0 || out < 0) {
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        batch_copy_failed = 1;
        return 1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            batch_copy_failed = 1;
            break;
        }
    close(in);
    close(out);
    return batch_copy_failed;
}

/* Skips build/ and .git at the top (FTW_SKIP_SUBTREE needs nftw's
 * FTW_ACTIONRETVAL). */
static int batch_copy_top(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    const char *rel = path + batch_copy_skip;

    if (ftw->level == 1 && flag == FTW_D &&
        (strcmp(rel, "build") == 0 || strcmp(rel, ".git") == 0))
        return FTW_SKIP_SUBTREE;
    return batch_copy_entry(path, sb, flag, ftw) ? FTW_STOP : FTW_CONTINUE;
}

static int batch_copy_any(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return batch_copy_entry(path, sb, flag, ftw) ? FTW_STOP : FTW_CONTINUE;
}

static int batch_copy_workbook(const char *root, const char *dest, char err[BATCH_ERR_LEN])
{
    char part[PATH_MAX], parent[PATH_MAX], rerr[RUNNER_ERR_LEN];

    batch_copy_from = root;
    batch_copy_to = dest;
    batch_copy_skip = strlen(root) + 1;
    batch_copy_failed = 0;
    if (runner_clear_dir(dest, rerr) < 0 ||
        nftw(root, batch_copy_top, 32, FTW_PHYS | FTW_ACTIONRETVAL) != 0 || batch_copy_failed) {
        batch_seterr(err, "cannot copy the workbook into %s", dest);
        return -1;
    }
    for (size_t i = 0; batch_build_parts[i] != NULL; i++) {
        if (batch_fmt(part, sizeof(part), "%s/%s", root, batch_build_parts[i]) < 0 ||
            batch_fmt(parent, sizeof(parent), "%s/%s", dest, batch_build_parts[i]) < 0 ||
            access(part, F_OK) != 0)
            continue;
        if (runner_mkdir_p(parent, rerr) < 0 ||
            nftw(part, batch_copy_any, 32, FTW_PHYS | FTW_ACTIONRETVAL) != 0 ||
            batch_copy_failed) {
            batch_seterr(err, "cannot copy %s into %s", part, dest);
            return -1;
        }
    }
    return 0;
}

static int batch_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Child graders                                                       */
/* ------------------------------------------------------------------ */

struct batch_paths {
    char sub[PATH_MAX];
    char out[PATH_MAX];
    char log[PATH_MAX];
    char root[PATH_MAX];   /* OUT/NAME/workbook: its own copy */
    char uid[16];
};

static int batch_paths(const struct batch_opts *o, const char *name, unsigned slot,
                       struct batch_paths *p)
{
    int a = snprintf(p->sub, sizeof(p->sub), "%s/%s", o->dir, name);
    int b = snprintf(p->out, sizeof(p->out), "%s/%s", o->out, name);
    int c = snprintf(p->log, sizeof(p->log), "%s/%s/grader.log", o->out,
                     name);
    int d = snprintf(p->root, sizeof(p->root), "%s/%s/workbook", o->out, name);

    snprintf(p->uid, sizeof(p->uid), "%u", o->subject_uid + slot);
    return a < 0 || b < 0 || c < 0 || d < 0 || (size_t)a >= sizeof(p->sub) ||
                   (size_t)b >= sizeof(p->out) || (size_t)c >= sizeof(p->log) ||
                   (size_t)d >= sizeof(p->root)
               ? -1 : 0;
}

/* The child's argument vector (pointers into p, o and ref_build). */
static void batch_argv(const struct batch_opts *o, const struct batch_paths *p,
                       const char *ref_build, const char **argv)
{
    size_t k = 0, i;

    argv[k++] = o->self;
    argv[k++] = "--root";
    argv[k++] = p->root;
    argv[k++] = "--submission";
    argv[k++] = p->sub;
    argv[k++] = "--out";
    argv[k++] = p->out;
    argv[k++] = "--ref-build";
    argv[k++] = ref_build;
    argv[k++] = "--subject-uid";
    argv[k++] = p->uid;
    argv[k++] = "--trusted-built";
    argv[k++] = "--quiet";
    if (o->reference != NULL) {
        argv[k++] = "--reference";
        argv[k++] = o->reference;
    }
    for (i = 0; o->child_args[i] != NULL && k < BATCH_MAX_ARGS - 1; i++)
        argv[k++] = o->child_args[i];
    argv[k] = NULL;
}

/* Starts the child grader of item in slot; its output goes to
 * OUT/NAME/grader.log. */
static int batch_start(const struct batch_opts *o, struct batch_item *item, unsigned slot,
                       const char *ref_build, char err[BATCH_ERR_LEN])
{
    const char *argv[BATCH_MAX_ARGS];
    struct batch_paths p;
    char rerr[RUNNER_ERR_LEN];
    int fd;

    if (batch_paths(o, item->name, slot, &p) < 0 ||
        runner_mkdir_p(p.out, rerr) < 0) {
        batch_seterr(err, "cannot prepare %s/%s", o->out, item->name);
        return -1;
    }
    if (batch_copy_workbook(o->root, p.root, err) < 0)
        return -1;
    batch_argv(o, &p, ref_build, argv);
    fd = open(p.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (item->pid = fork()) < 0) {
        batch_seterr(err, "cannot start a grader for %s: %s", item->name,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (item->pid == 0) {
        if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(127);
        execv(o->self, (char *const *)argv);
        _exit(127);
    }
    item->slot = slot;
    close(fd);
    return 0;
}

/* Waits for one child grader; marks its item done, frees its slot and
 * removes its copy of the workbook. */
static void batch_reap(const struct batch_opts *o, struct batch_item *items, size_t n,
                       size_t *running, unsigned char *slots)
{
    int status = 0;
    pid_t pid;
    size_t i;
    char copy[PATH_MAX];

    do {
        pid = waitpid(-1, &status, 0);
    } while (pid < 0 && errno == EINTR);
    if (pid < 0) {
        *running = 0; /* ECHILD: nothing left to wait for */
        return;
    }
    for (i = 0; i < n; i++) {
        if (items[i].pid != pid || items[i].done)
            continue;
        items[i].done = 1;
        items[i].status = status;
        slots[items[i].slot] = 0;
        (*running)--;
        if (!o->keep_workbooks &&
            snprintf(copy, sizeof(copy), "%s/%s/workbook", o->out, items[i].name) <
                (int)sizeof(copy))
            nftw(copy, batch_rm_entry, 32, FTW_DEPTH | FTW_PHYS);
        return;
    }
    /* Not one of ours: an orphan re-parented to us (subreaper). */
}

/* Runs every child grader, at most o->jobs at once, each job slot with
 * its own subject uid. */
static int batch_grade_all(const struct batch_opts *o,
                           struct batch_item *items, size_t n,
                           const char *ref_build, char err[BATCH_ERR_LEN])
{
    size_t next = 0, running = 0;
    unsigned char slots[BATCH_MAX_JOBS] = { 0 };

    while (next < n || running > 0) {
        if (next < n && running < (size_t)o->jobs) {
            unsigned slot = 0;
            while (slot < BATCH_MAX_JOBS - 1 && slots[slot])
                slot++;
            if (!o->quiet)
                fprintf(stderr, "grader: grading %s (%zu/%zu)\n",
                        items[next].name, next + 1, n);
            if (batch_start(o, &items[next], slot, ref_build, err) < 0) {
                while (running > 0)
                    batch_reap(o, items, n, &running, slots);
                return -1;
            }
            slots[slot] = 1;
            next++;
            running++;
            continue;
        }
        batch_reap(o, items, n, &running, slots);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* grades.csv                                                          */
/* ------------------------------------------------------------------ */

/* Writes s as a CSV field (RFC 4180: quoted when needed). */
static void batch_csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* The score of exercise id in results.json's "exercises"; -1 if absent. */
static json_int_t batch_ex_score(json_t *root, const char *id, char *status,
                                 size_t len)
{
    json_t *ex;
    size_t i;

    json_array_foreach(json_object_get(root, "exercises"), i, ex) {
        if (!json_is_string(json_object_get(ex, "id")) ||
            strcmp(json_string_value(json_object_get(ex, "id")), id) != 0)
            continue;
        snprintf(status, len, "%s",
                 json_is_string(json_object_get(ex, "status"))
                     ? json_string_value(json_object_get(ex, "status")) : "?");
        return json_integer_value(json_object_get(ex, "score"));
    }
    snprintf(status, len, "missing");
    return -1;
}

/* Writes the row of a submission whose results.json could be read. */
static void batch_csv_scores(FILE *out, const struct batch_opts *o,
                             json_t *root, int code)
{
    char st[32], status[512] = "";
    json_int_t v;
    size_t i, len;

    fprintf(out, ",%" JSON_INTEGER_FORMAT ",%" JSON_INTEGER_FORMAT,
            json_integer_value(json_object_get(root, "score")),
            json_integer_value(json_object_get(root, "max_score")));
    for (i = 0; i < o->count; i++) {
        v = batch_ex_score(root, o->rubrics[i]->id, st, sizeof(st));
        if (v >= 0)
            fprintf(out, ",%" JSON_INTEGER_FORMAT, v);
        else
            fputc(',', out);
        len = strlen(status);
        if (strcmp(st, "graded") != 0)
            snprintf(status + len, sizeof(status) - len, "%s%s:%s",
                     len > 0 ? " " : "", o->rubrics[i]->id, st);
    }
    fputc(',', out);
    if (code == 2 && status[0] == '\0')
        snprintf(status, sizeof(status), "error: see grader.log");
    batch_csv_field(out, status[0] != '\0' ? status : "ok");
}

/* Writes one CSV row; returns 1 when the child grader failed. */
static int batch_csv_row(FILE *out, const struct batch_opts *o,
                         const struct batch_item *item)
{
    char path[PATH_MAX], status[64];
    json_t *root = NULL;
    int code = WIFEXITED(item->status) ? WEXITSTATUS(item->status) : -1;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s/results.json", o->out, item->name);
    batch_csv_field(out, item->name);
    if (code >= 0 && code <= 2)
        root = json_load_file(path, 0, NULL);
    if (root != NULL) {
        batch_csv_scores(out, o, root, code);
        json_decref(root);
    } else {
        fputs(",,", out);
        for (i = 0; i < o->count; i++)
            fputc(',', out);
        snprintf(status, sizeof(status), "error: the grader %s %d",
                 code >= 0 ? "exited with status" : "was killed by signal",
                 code >= 0 ? code : WTERMSIG(item->status));
        fputc(',', out);
        batch_csv_field(out, status);
    }
    fputc('\n', out);
    return root == NULL || code == 2;
}

static int batch_write_csv(const struct batch_opts *o,
                           const struct batch_item *items, size_t n,
                           int *failed, char err[BATCH_ERR_LEN])
{
    char path[PATH_MAX];
    FILE *out;
    size_t i;

    snprintf(path, sizeof(path), "%s/grades.csv", o->out);
    if ((out = fopen(path, "w")) == NULL) {
        batch_seterr(err, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fputs("name,score,max_score", out);
    for (i = 0; i < o->count; i++)
        fprintf(out, ",%s", o->rubrics[i]->id);
    fputs(",status\n", out);
    *failed = 0;
    for (i = 0; i < n; i++)
        *failed += batch_csv_row(out, o, &items[i]);
    if (fclose(out) != 0) {
        batch_seterr(err, "cannot write %s", path);
        return -1;
    }
    if (!o->quiet)
        printf("Graded %zu submission%s: %s\n", n, n == 1 ? "" : "s", path);
    return 0;
}

int batch_run(const struct batch_opts *o, char err[BATCH_ERR_LEN])
{
    struct batch_item *items = NULL;
    char ref_build[PATH_MAX], rerr[RUNNER_ERR_LEN];
    size_t n = 0;
    int failed = 0, rc = -1;

    if (snprintf(ref_build, sizeof(ref_build), "%s/ref-build", o->out) >=
        (int)sizeof(ref_build)) {
        batch_seterr(err, "output path too long");
        return -1;
    }
    if (runner_mkdir_p(o->out, rerr) < 0) {
        batch_seterr(err, "%s", rerr);
        return -1;
    }
    if (batch_list(o->dir, &items, &n, err) < 0 ||
        runner_mkdir_p(ref_build, rerr) < 0 ||
        batch_build_reference(o, ref_build, err) < 0 ||
        batch_grade_all(o, items, n, ref_build, err) < 0 ||
        batch_write_csv(o, items, n, &failed, err) < 0)
        goto out;
    rc = failed > 0 ? 1 : 0;

out:
    batch_free(items, n);
    return rc;
}
