/*
 * build.c - copy, check, preprocess, compile, check, link (see build.h).
 */
#define _GNU_SOURCE 1
#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"
#include "runner.h"
#include "srccheck.h"
#include "symcheck.h"

#define BUILD_MAX_SOURCE (1024L * 1024)

static const char *const build_names[BUILD_NVARIANTS] = { "test", "bench", "cov", "asan" };

/* Variables of an outer make, and of a student's shell, that must not
 * change how the compiler runs. */
static const char *const build_unset_env[] = {
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CPATH", "C_INCLUDE_PATH", "GCC_EXEC_PREFIX",
    "COMPILER_PATH", "LIBRARY_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES",
    "GCC_COMPARE_DEBUG", "LD_PRELOAD", "LD_LIBRARY_PATH", NULL
};
static const char *const build_set_env[] = { "LC_ALL=C", NULL };

const char *build_variant_name(enum build_variant v)
{
    return v < BUILD_NVARIANTS ? build_names[v] : "?";
}

double build_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int build_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int build_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

void build_out_clear(struct build_out *out)
{
    free(out->reasons);
    out->reasons = NULL;
}

static int build_set(struct build_out *out, enum build_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int build_set(struct build_out *out, enum build_status status, const char *fmt, ...)
{
    va_list ap;

    out->status = status;
    va_start(ap, fmt);
    vsnprintf(out->note, sizeof(out->note), fmt, ap);
    va_end(ap);
    return 0;
}

/* The stem of a TODO file name ("ex01" of "ex01.c"); -1 if not a .c. */
static int build_stem(const char *todo, char *out, size_t len)
{
    size_t n = strlen(todo);

    if (n < 3 || strcmp(todo + n - 2, ".c") != 0 || strchr(todo, '/') != NULL)
        return -1;
    return build_fmt(out, len, "%.*s", (int)(n - 2), todo);
}

/*
 * Runs argv in ROOT with the build's limits, output into log.  Returns 0
 * when it exited 0, 1 when it failed (out says how), -1 on an internal
 * error (out says so too).
 */
static int build_run(const struct build_spec *spec, const char *const *argv, const char *log,
                     struct build_out *out)
{
    struct runner_result res;
    char err[RUNNER_ERR_LEN];
    double left = spec->deadline > 0 ? spec->deadline - build_now() : 1e9;
    int timeout = spec->timeout_s > 0 ? spec->timeout_s : 300;
    struct runner_spec rs;

    if (left < 1) {
        build_set(out, BUILD_TIMEOUT, "the grading budget ran out while building");
        return 1;
    }
    if (left < timeout)
        timeout = (int)left;
    rs = (struct runner_spec){ argv, spec->root, log, timeout, timeout, 1, build_unset_env,
                               build_set_env, spec->memory_mb, NULL };
    if (runner_run(&rs, &res, err) < 0) {
        build_set(out, BUILD_ERROR, "cannot run %s: %s", argv[0], err);
        return -1;
    }
    if (res.outcome == RUNNER_EXITED && res.status == 0)
        return 0;
    snprintf(out->log, sizeof(out->log), "%s", log);
    if (res.outcome == RUNNER_TIMED_OUT)
        build_set(out, spec->deadline > 0 && build_now() >= spec->deadline - 1 ? BUILD_TIMEOUT
                                                                                : BUILD_UNGRADABLE,
                  "the compiler did not finish within %d s and was stopped", timeout);
    else if (res.outcome == RUNNER_SIGNALED)
        build_set(out, BUILD_UNGRADABLE, "the compiler was killed by signal %d (%s)",
                  res.status, strsignal(res.status));
    else
        build_set(out, BUILD_UNGRADABLE, "does not compile: fix the errors below");
    return 1;
}

/* ---- step 1 ------------------------------------------------------------- */

/* Copies src into staged with a first line `#line 1 "display"`. */
static int build_stage(const char *src, const char *staged, const char *display,
                       struct build_out *out)
{
    struct stat st;
    FILE *in = NULL, *o = NULL;
    char buf[65536];
    size_t n;
    int fd;

    if (lstat(src, &st) < 0)
        return build_set(out, BUILD_UNGRADABLE, "missing file %s: it is the file you edit in "
                         "this exercise", display), 1;
    if (S_ISLNK(st.st_mode))
        return build_set(out, BUILD_UNGRADABLE, "%s is a symbolic link: submit the file itself",
                         display), 1;
    if (!S_ISREG(st.st_mode))
        return build_set(out, BUILD_UNGRADABLE, "%s is not a regular file", display), 1;
    if (st.st_size > BUILD_MAX_SOURCE)
        return build_set(out, BUILD_UNGRADABLE, "%s is larger than %ld bytes", display,
                         BUILD_MAX_SOURCE), 1;
    fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    in = fd >= 0 ? fdopen(fd, "rb") : NULL;
    o = fopen(staged, "wb");
    if (in == NULL || o == NULL) {
        if (in)
            fclose(in);
        else if (fd >= 0)
            close(fd);
        if (o)
            fclose(o);
        return build_set(out, BUILD_ERROR, "cannot copy %s: %s", display, strerror(errno)), -1;
    }
    fprintf(o, "#line 1 \"");
    for (const char *p = display; *p != '\0'; p++)
        fprintf(o, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    fprintf(o, "\"\n");
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, o);
    fclose(in);
    if (fclose(o) != 0)
        return build_set(out, BUILD_ERROR, "cannot write %s", staged), -1;
    return 0;
}

/* Paths of one TODO file's stages. */
struct build_paths {
    char src[PATH_MAX];       /* the submission's file */
    char staged[PATH_MAX];    /* WORK/src/<exdir>/<file> */
    char ifile[PATH_MAX];     /* ... .i */
    char stem[NAME_MAX];
};

static int build_paths(const struct build_spec *spec, const char *todo, struct build_paths *p)
{
    if (build_stem(todo, p->stem, sizeof(p->stem)) < 0)
        return -1;
    return build_fmt(p->src, sizeof(p->src), "%s/%s", spec->src, todo) < 0 ||
                   build_fmt(p->staged, sizeof(p->staged), "%s/src/%s/%s", spec->work,
                             spec->r->exdir, todo) < 0 ||
                   build_fmt(p->ifile, sizeof(p->ifile), "%s/src/%s/%s.i", spec->work,
                             spec->r->exdir, p->stem) < 0
               ? -1
               : 0;
}

static int build_kit_path(const struct build_spec *spec, char *out, size_t len,
                          const char *fmt, const char *a, const char *b, const char *c)
{
    char rel[PATH_MAX];

    if (build_fmt(rel, sizeof(rel), fmt, a, b, c) < 0)
        return -1;
    return build_fmt(out, len, "%s/build/kit/%s", spec->root, rel);
}

/* Preprocesses one staged file; 0, 1 (does not compile), -1. */
static int build_preprocess(const struct build_spec *spec, const struct build_paths *p,
                            struct build_out *out)
{
    char cflags[PATH_MAX], log[PATH_MAX], kerr[KIT_ERR_LEN];
    struct kit_args args = { 0 };
    int rc = -1;

    if (build_kit_path(spec, cflags, sizeof(cflags), "%s.cflags", spec->r->exdir, "", "") < 0 ||
        build_fmt(log, sizeof(log), "%s/%s.%s.cpp.log", spec->logdir, spec->r->id,
                  p->stem) < 0)
        return build_set(out, BUILD_ERROR, "path too long"), -1;
    if (kit_args_push(&args, "gcc") < 0 || kit_args_read(&args, cflags, NULL, kerr) < 0) {
        build_set(out, BUILD_ERROR, "%s", kerr);
        goto done;
    }
    if (kit_args_push(&args, "-O1") < 0 || kit_args_push(&args, "-E") < 0 ||
        kit_args_push(&args, p->staged) < 0 || kit_args_push(&args, "-o") < 0 ||
        kit_args_push(&args, p->ifile) < 0) {
        build_set(out, BUILD_ERROR, "out of memory");
        goto done;
    }
    rc = build_run(spec, (const char *const *)args.v, log, out);
done:
    kit_args_free(&args);
    return rc;
}

int build_prepare(const struct build_spec *spec, struct build_out *out)
{
    const struct rubric *r = spec->r;
    char dir[PATH_MAX], exheaders[PATH_MAX], err[SRCCHECK_ERR_LEN];
    struct build_paths p;

    out->status = BUILD_OK;
    if (spec->prebuilt)
        return 0;
    if (build_fmt(dir, sizeof(dir), "%s/src/%s", spec->work, r->exdir) < 0 ||
        build_fmt(exheaders, sizeof(exheaders), "%s/skeletons/%s", spec->root, r->exdir) < 0)
        return build_set(out, BUILD_ERROR, "path too long"), 0;
    {
        char e[RUNNER_ERR_LEN];
        if (runner_clear_dir(dir, e) < 0)
            return build_set(out, BUILD_ERROR, "%s", e), 0;
    }
    for (size_t i = 0; i < r->ntodo; i++) {
        if (build_paths(spec, r->todo[i], &p) < 0)
            continue;   /* not a .c file: nothing to compile */
        if (build_stage(p.src, p.staged, p.src, out) != 0)
            return out->status == BUILD_ERROR && strcmp(out->note, "out of memory") == 0 ? -1 : 0;
        if (!spec->trusted && spec->static_check &&
            srccheck_source(p.src, r->todo[i], &out->reasons, err) < 0)
            return build_set(out, BUILD_ERROR, "%s", err), 0;
    }
    if (out->reasons != NULL)
        return out->status = BUILD_REJECTED, 0;
    for (size_t i = 0; i < r->ntodo; i++) {
        if (build_paths(spec, r->todo[i], &p) < 0)
            continue;
        if (build_preprocess(spec, &p, out) != 0)
            return 0;
        if (!spec->trusted && spec->static_check &&
            srccheck_preprocessed(p.ifile, p.staged, p.src, r->todo[i], exheaders, r->todo,
                                  r->ntodo, spec->root, &out->reasons, err) < 0)
            return build_set(out, BUILD_ERROR, "%s", err), 0;
    }
    if (out->reasons != NULL)
        out->status = BUILD_REJECTED;
    return 0;
}

/* ---- step 2 ------------------------------------------------------------- */

/* Compiles p's .i in variant v into obj (via the assembly, checked). */
static int build_compile(const struct build_spec *spec, enum build_variant v,
                         const struct build_paths *p, const char *todo, const char *objdir,
                         struct build_out *out)
{
    char cflags[PATH_MAX], vflags[PATH_MAX], sfile[PATH_MAX], ofile[PATH_MAX], log[PATH_MAX];
    char kerr[KIT_ERR_LEN], err[SRCCHECK_ERR_LEN], logbase[PATH_MAX];
    struct kit_args args = { 0 };
    const char *vname = build_names[v];
    int rc = -1;

    if (build_kit_path(spec, cflags, sizeof(cflags), "%s.cflags", spec->r->exdir, "", "") < 0 ||
        build_kit_path(spec, vflags, sizeof(vflags), "%s.vflags", vname, "", "") < 0 ||
        build_fmt(sfile, sizeof(sfile), "%s/%s.s", objdir, p->stem) < 0 ||
        build_fmt(ofile, sizeof(ofile), "%s/%s.o", objdir, p->stem) < 0 ||
        build_fmt(log, sizeof(log), "%s/%s.%s.%s.cc.log", spec->logdir, spec->r->id, p->stem,
                  vname) < 0 ||
        build_fmt(logbase, sizeof(logbase), "%s/%s.%s.%s", spec->logdir, spec->r->id, p->stem,
                  vname) < 0)
        return build_set(out, BUILD_ERROR, "path too long"), -1;
    if (kit_args_push(&args, "gcc") < 0 || kit_args_read(&args, cflags, NULL, kerr) < 0 ||
        kit_args_read(&args, vflags, NULL, kerr) < 0) {
        build_set(out, BUILD_ERROR, "%s", kerr);
        goto done;
    }
    if ((v == BUILD_TEST && (kit_args_push(&args, "-Wall") < 0 ||
                             kit_args_push(&args, "-Wextra") < 0)) ||
        kit_args_push(&args, "-S") < 0 || kit_args_push(&args, "-x") < 0 ||
        kit_args_push(&args, "cpp-output") < 0 || kit_args_push(&args, p->ifile) < 0 ||
        kit_args_push(&args, "-o") < 0 || kit_args_push(&args, sfile) < 0) {
        build_set(out, BUILD_ERROR, "out of memory");
        goto done;
    }
    if ((rc = build_run(spec, (const char *const *)args.v, log, out)) != 0)
        goto done;
    if (!spec->trusted && spec->static_check &&
        srccheck_assembly(sfile, todo, &out->reasons, err) < 0) {
        rc = -1;
        build_set(out, BUILD_ERROR, "%s", err);
        goto done;
    }
    {
        const char *as[] = { "gcc", "-c", sfile, "-o", ofile, NULL };
        if ((rc = build_run(spec, as, log, out)) != 0)
            goto done;
    }
    if (!spec->trusted && spec->static_check && spec->r->symbols != NULL) {
        struct symcheck_result res = { out->reasons, 0 };
        char serr[SYMCHECK_ERR_LEN];
        if (res.reasons != NULL)
            for (const char *q = res.reasons; *q; q++)
                res.count += *q == '\n';
        rc = symcheck_object(spec->r, spec->api, ofile, todo, vname, logbase, &res, serr);
        out->reasons = res.reasons;
        if (rc < 0)
            build_set(out, BUILD_ERROR, "static check: %s", serr);
    }
done:
    kit_args_free(&args);
    return rc;
}

/* Links one program from its .link file. */
static int build_link(const struct build_spec *spec, enum build_variant v, const char *linkfile,
                      const char *prog, const char *objdir, const char *bindir,
                      struct build_out *out)
{
    struct kit_args args = { 0 }, kit = { 0 }, todo = { 0 };
    char kerr[KIT_ERR_LEN], obj[PATH_MAX], exe[PATH_MAX], log[PATH_MAX], stem[NAME_MAX];
    int rc = -1;

    if (build_fmt(exe, sizeof(exe), "%s/%s", bindir, prog) < 0 ||
        build_fmt(log, sizeof(log), "%s/%s.%s.%s.ld.log", spec->logdir, spec->r->id, prog,
                  build_names[v]) < 0)
        return build_set(out, BUILD_ERROR, "path too long"), -1;
    if (kit_args_read(&kit, linkfile, &todo, kerr) < 0) {
        build_set(out, BUILD_ERROR, "%s", kerr);
        goto done;
    }
    if (kit_args_push(&args, "gcc") < 0)
        goto oom;
    for (size_t i = 0; i < todo.n; i++) {
        if (build_stem(todo.v[i], stem, sizeof(stem)) < 0 ||
            build_fmt(obj, sizeof(obj), "%s/%s.o", objdir, stem) < 0) {
            build_set(out, BUILD_ERROR, "kit %s: bad TODO file name %s", linkfile, todo.v[i]);
            goto done;
        }
        if (kit_args_push(&args, obj) < 0)
            goto oom;
    }
    for (size_t i = 0; i < kit.n; i++)
        if (kit_args_push(&args, kit.v[i]) < 0)
            goto oom;
    if (kit_args_push(&args, "-o") < 0 || kit_args_push(&args, exe) < 0)
        goto oom;
    rc = build_run(spec, (const char *const *)args.v, log, out);
    if (rc == 1 && out->status == BUILD_UNGRADABLE)
        build_set(out, BUILD_UNGRADABLE, "does not link: a function is missing or defined "
                  "twice (see below)");
    goto done;
oom:
    build_set(out, BUILD_ERROR, "out of memory");
done:
    kit_args_free(&args);
    kit_args_free(&kit);
    kit_args_free(&todo);
    return rc;
}

int build_bindir(const struct build_spec *spec, enum build_variant v, char *out, size_t len)
{
    return build_fmt(out, len, "%s/%s/bin", spec->work, build_names[v]);
}

/* Copies a prebuilt reference object into objdir. */
static int build_copy_prebuilt(const struct build_spec *spec, enum build_variant v,
                               const char *stem, const char *objdir, struct build_out *out)
{
    char from[PATH_MAX], to[PATH_MAX], log[PATH_MAX];
    const char *cp[] = { "cp", from, to, NULL };

    if (build_fmt(from, sizeof(from), "%s/%s/%s/%s.o", spec->src, build_names[v],
                  spec->r->exdir, stem) < 0 ||
        build_fmt(to, sizeof(to), "%s/%s.o", objdir, stem) < 0 ||
        build_fmt(log, sizeof(log), "%s/%s.ref-copy.log", spec->logdir, spec->r->id) < 0)
        return build_set(out, BUILD_ERROR, "path too long"), -1;
    if (access(from, R_OK) != 0)
        return build_set(out, BUILD_ERROR, "the reference has no %s object %s", build_names[v],
                         from), -1;
    return build_run(spec, cp, log, out);
}

int build_variant(const struct build_spec *spec, enum build_variant v, struct build_out *out)
{
    char objdir[PATH_MAX], bindir[PATH_MAX], kitdir[PATH_MAX], link[PATH_MAX];
    struct build_paths p;
    DIR *d;
    struct dirent *de;
    size_t nprogs = 0;

    out->status = BUILD_OK;
    if (build_fmt(objdir, sizeof(objdir), "%s/%s/obj", spec->work, build_names[v]) < 0 ||
        build_bindir(spec, v, bindir, sizeof(bindir)) < 0 ||
        build_kit_path(spec, kitdir, sizeof(kitdir), "%s/%s", build_names[v], spec->r->exdir,
                       "") < 0)
        return build_set(out, BUILD_ERROR, "path too long"), 0;
    {
        char e[RUNNER_ERR_LEN];
        if (runner_clear_dir(objdir, e) < 0 || runner_clear_dir(bindir, e) < 0)
            return build_set(out, BUILD_ERROR, "%s", e), 0;
    }
    for (size_t i = 0; i < spec->r->ntodo; i++) {
        if (build_paths(spec, spec->r->todo[i], &p) < 0)
            continue;
        if (spec->prebuilt) {
            if (build_copy_prebuilt(spec, v, p.stem, objdir, out) != 0)
                return out->status == BUILD_OK ? build_set(out, BUILD_ERROR, "copy failed") : 0;
            continue;
        }
        if (build_compile(spec, v, &p, spec->r->todo[i], objdir, out) != 0)
            return 0;
    }
    if (out->reasons != NULL) {
        out->status = BUILD_REJECTED;
        return 0;
    }
    if ((d = opendir(kitdir)) == NULL)
        return build_set(out, BUILD_ERROR, "no kit in %s (was `make kits` run?)", kitdir), 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char prog[NAME_MAX];
        if (n < 6 || strcmp(de->d_name + n - 5, ".link") != 0)
            continue;
        snprintf(prog, sizeof(prog), "%.*s", (int)(n - 5), de->d_name);
        if (build_fmt(link, sizeof(link), "%s/%s", kitdir, de->d_name) < 0 ||
            build_link(spec, v, link, prog, objdir, bindir, out) != 0) {
            closedir(d);
            return 0;
        }
        nprogs++;
    }
    closedir(d);
    if (nprogs == 0)
        build_set(out, BUILD_ERROR, "the kit %s lists no program", kitdir);
    return 0;
}

/* ---- what was left out -------------------------------------------------- */

char *build_ignored(const struct build_spec *spec)
{
    DIR *d = opendir(spec->src);
    struct dirent *de;
    char *list = NULL;
    size_t len = 0;
    FILE *f;

    if (d == NULL)
        return NULL;
    f = open_memstream(&list, &len);
    if (f == NULL) {
        closedir(d);
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            rubric_is_todo(spec->r, de->d_name))
            continue;
        fprintf(f, "%s%s", len > 0 || ftell(f) > 0 ? ", " : "", de->d_name);
    }
    closedir(d);
    fclose(f);
    if (list != NULL && list[0] == '\0') {
        free(list);
        list = NULL;
    }
    return list;
}
