/*
 * srccheck.c - the checks of a TODO file's text, of its preprocessed text
 * and of its assembly (see srccheck.h).
 */
#define _GNU_SOURCE 1 /* realpath, open_memstream */
#include "srccheck.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SRCCHECK_MAX_SOURCE (2L * 1024 * 1024)

/* Folders whose headers any TODO file may include. */
static const char *const srccheck_system_dirs[] = {
    "/usr/include/", "/usr/lib/gcc/", "/usr/local/include/", NULL
};

int srccheck_add(char **reasons, const char *fmt, ...)
{
    char line[1024];
    size_t old = *reasons ? strlen(*reasons) : 0, add;
    char *grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    add = strlen(line);
    grown = realloc(*reasons, old + add + 2);
    if (grown == NULL)
        return -1;
    memcpy(grown + old, line, add);
    grown[old + add] = '\n';
    grown[old + add + 1] = '\0';
    *reasons = grown;
    return 0;
}

/* Reads a whole file (at most max bytes); NULL with err set. */
static char *srccheck_read(const char *path, long max, size_t *len,
                           char err[SRCCHECK_ERR_LEN])
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *buf;

    if (f == NULL || fstat(fileno(f), &st) < 0) {
        snprintf(err, SRCCHECK_ERR_LEN, "cannot read %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    if (st.st_size > max) {
        snprintf(err, SRCCHECK_ERR_LEN, "%s is larger than %ld bytes", path, max);
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, SRCCHECK_ERR_LEN, "out of memory");
        fclose(f);
        return NULL;
    }
    *len = fread(buf, 1, (size_t)st.st_size, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- 1. the source ------------------------------------------------------ */

/* The source after backslash-newline joining, with each character's line. */
struct srccheck_text {
    char *c;
    int *line;
    size_t n;
};

static int srccheck_splice(const char *src, size_t len, struct srccheck_text *t)
{
    int line = 1;

    t->c = malloc(len + 1);
    t->line = malloc((len + 1) * sizeof(int));
    t->n = 0;
    if (t->c == NULL || t->line == NULL)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\\' && i + 1 < len && src[i + 1] == '\n') {
            i++;
            line++;
            continue;
        }
        if (src[i] == '\\' && i + 2 < len && src[i + 1] == '\r' && src[i + 2] == '\n') {
            i += 2;
            line++;
            continue;
        }
        t->c[t->n] = src[i];
        t->line[t->n++] = line;
        if (src[i] == '\n')
            line++;
    }
    t->c[t->n] = '\0';
    t->line[t->n] = line;
    return 0;
}

static int srccheck_ident_start(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int srccheck_ident_char(char c)
{
    return srccheck_ident_start(c) || (c >= '0' && c <= '9');
}

/* Skips spaces, tabs and comments on the current line; returns the index. */
static size_t srccheck_skip_blank(const struct srccheck_text *t, size_t i)
{
    for (;;) {
        if (i < t->n && (t->c[i] == ' ' || t->c[i] == '\t' || t->c[i] == '\f' ||
                         t->c[i] == '\v' || t->c[i] == '\r')) {
            i++;
        } else if (i + 1 < t->n && t->c[i] == '/' && t->c[i + 1] == '*') {
            char *end = strstr(t->c + i + 2, "*/");
            i = end ? (size_t)(end - t->c) + 2 : t->n;
        } else {
            return i;
        }
    }
}

/* Reads an identifier at i into buf; returns the index after it. */
static size_t srccheck_word(const struct srccheck_text *t, size_t i, char *buf, size_t len)
{
    size_t k = 0;

    while (i < t->n && srccheck_ident_char(t->c[i])) {
        if (k + 1 < len)
            buf[k++] = t->c[i];
        i++;
    }
    buf[k] = '\0';
    return i;
}

/* Checks the directive whose '#' (or "%:") ends just before i. */
static int srccheck_directive(const struct srccheck_text *t, size_t i, const char *name,
                              char **reasons)
{
    char word[64], next[64], third[64];
    int line;

    i = srccheck_skip_blank(t, i);
    line = t->line[i < t->n ? i : t->n];
    if (i < t->n && t->c[i] >= '0' && t->c[i] <= '9')
        return srccheck_add(reasons, "%s:%d: a linemarker (# %c...) is not allowed in a TODO "
                            "file: it would make the compiler misreport where code comes from",
                            name, line, t->c[i]);
    i = srccheck_word(t, i, word, sizeof(word));
    if (strcmp(word, "line") == 0)
        return srccheck_add(reasons, "%s:%d: #line is not allowed in a TODO file: it would make "
                            "the compiler misreport where code comes from", name, line);
    if (strcmp(word, "include_next") == 0 || strcmp(word, "import") == 0)
        return srccheck_add(reasons, "%s:%d: #%s is not allowed in a TODO file: use #include "
                            "with the exercise's headers", name, line, word);
    if (strcmp(word, "pragma") == 0) {
        i = srccheck_word(t, srccheck_skip_blank(t, i), next, sizeof(next));
        srccheck_word(t, srccheck_skip_blank(t, i), third, sizeof(third));
        if (strcmp(next, "GCC") == 0 && strcmp(third, "system_header") == 0)
            return srccheck_add(reasons, "%s:%d: #pragma GCC system_header is not allowed in a "
                                "TODO file", name, line);
    }
    return 0;
}

/* Skips a string or character literal starting at i (the quote). */
static size_t srccheck_literal(const struct srccheck_text *t, size_t i)
{
    char q = t->c[i++];

    while (i < t->n && t->c[i] != q && t->c[i] != '\n') {
        if (t->c[i] == '\\' && i + 1 < t->n)
            i++;
        i++;
    }
    return i < t->n ? i + 1 : i;
}

static int srccheck_trigraphs(const char *src, size_t len, const char *name, char **reasons)
{
    int line = 1;

    for (size_t i = 0; i + 2 < len; i++) {
        if (src[i] == '\n')
            line++;
        if (src[i] == '?' && src[i + 1] == '?' && strchr("=(/)'<!>-", src[i + 2]) != NULL &&
            src[i + 2] != '\0')
            return srccheck_add(reasons, "%s:%d: the trigraph ??%c is not allowed in a TODO "
                                "file (write the character itself)", name, line, src[i + 2]);
    }
    return 0;
}

int srccheck_source(const char *path, const char *name, char **reasons,
                    char err[SRCCHECK_ERR_LEN])
{
    size_t len = 0, i = 0;
    char *src = srccheck_read(path, SRCCHECK_MAX_SOURCE, &len, err);
    struct srccheck_text t = { NULL, NULL, 0 };
    int at_line_start = 1, rc = -1, pragma_reported = 0;

    if (src == NULL)
        return -1;
    if (memchr(src, '\0', len) != NULL) {
        rc = srccheck_add(reasons, "%s: the file contains NUL bytes: it is not C source text",
                          name);
        goto out;
    }
    if (srccheck_trigraphs(src, len, name, reasons) < 0 || srccheck_splice(src, len, &t) < 0) {
        snprintf(err, SRCCHECK_ERR_LEN, "out of memory");
        goto out;
    }
    while (i < t.n) {
        char c = t.c[i];
        if (c == '\n') {
            at_line_start = 1;
            i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            i++;
        } else if (c == '/' && i + 1 < t.n && t.c[i + 1] == '*') {
            char *end = strstr(t.c + i + 2, "*/");
            i = end ? (size_t)(end - t.c) + 2 : t.n;
        } else if (c == '/' && i + 1 < t.n && t.c[i + 1] == '/') {
            while (i < t.n && t.c[i] != '\n')
                i++;
        } else if (at_line_start && (c == '#' || (c == '%' && i + 1 < t.n && t.c[i + 1] == ':'))) {
            at_line_start = 0;
            if (srccheck_directive(&t, i + (c == '#' ? 1 : 2), name, reasons) < 0)
                goto oom;
            i += c == '#' ? 1 : 2;
        } else if (c == '"' || c == '\'') {
            at_line_start = 0;
            i = srccheck_literal(&t, i);
        } else if (srccheck_ident_start(c)) {
            char word[64];
            size_t start = i;
            at_line_start = 0;
            i = srccheck_word(&t, i, word, sizeof(word));
            if (strcmp(word, "_Pragma") == 0 && !pragma_reported) {
                pragma_reported = 1;
                if (srccheck_add(reasons, "%s:%d: the _Pragma operator is not allowed in a TODO "
                                 "file", name, t.line[start]) < 0)
                    goto oom;
            }
            /* A prefix such as L"..." or u8"...": the literal follows. */
            if (i < t.n && (t.c[i] == '"' || t.c[i] == '\''))
                i = srccheck_literal(&t, i);
        } else {
            at_line_start = 0;
            i++;
        }
    }
    rc = 0;
    goto out;

oom:
    snprintf(err, SRCCHECK_ERR_LEN, "out of memory");
out:
    free(t.c);
    free(t.line);
    free(src);
    return rc;
}

/* ---- 2. the preprocessed text ------------------------------------------ */

/* Reads the quoted file name of a linemarker (GCC escapes \ and "). */
static int srccheck_marker_file(const char *p, char *out, size_t len)
{
    size_t k = 0;

    if (*p != '"')
        return -1;
    for (p++; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        if (k + 1 >= len)
            return -1;
        out[k++] = *p;
    }
    out[k] = '\0';
    return *p == '"' ? 0 : -1;
}

static int srccheck_inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (dir[n - 1] == '/' || path[n] == '/');
}

static int srccheck_is_todo(const char *base, char *const *todo, size_t ntodo)
{
    for (size_t i = 0; i < ntodo; i++)
        if (strcmp(base, todo[i]) == 0)
            return 1;
    return 0;
}

/* Is the file a linemarker names allowed?  Fills why when it is not. */
static int srccheck_allowed_file(const char *file, const char *staged_real, const char *display,
                                 const char *exdir, char *const *todo, size_t ntodo,
                                 const char *cwd, char *why, size_t whylen)
{
    char path[PATH_MAX * 2], real[PATH_MAX];
    const char *base;
    size_t len;

    if (strcmp(file, "<built-in>") == 0 || strcmp(file, "<command-line>") == 0 ||
        strcmp(file, display) == 0)
        return 1;
    /* With -g, GCC names its working directory once: "# 1 "/dir//"". */
    len = strlen(file);
    if (len > 2 && strcmp(file + len - 2, "//") == 0 && strncmp(file, cwd, len - 2) == 0 &&
        (cwd[len - 2] == '\0' || (cwd[len - 2] == '/' && cwd[len - 1] == '\0')))
        return 1;
    if (file[0] == '/')
        snprintf(path, sizeof(path), "%s", file);
    else
        snprintf(path, sizeof(path), "%s/%s", cwd, file);
    if (realpath(path, real) == NULL) {
        snprintf(why, whylen, "which does not exist");
        return 0;
    }
    if (strcmp(real, staged_real) == 0)
        return 1;
    for (size_t i = 0; srccheck_system_dirs[i] != NULL; i++)
        if (srccheck_inside(real, srccheck_system_dirs[i]))
            return 1;
    base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    len = strlen(base);
    if (srccheck_inside(real, exdir) && strchr(real + strlen(exdir) + 1, '/') == NULL &&
        len > 2 && strcmp(base + len - 2, ".h") == 0 && !srccheck_is_todo(base, todo, ntodo))
        return 1;
    snprintf(why, whylen, "which is not one of the exercise's headers (%s/*.h) nor a system "
             "header", exdir);
    return 0;
}

int srccheck_preprocessed(const char *ipath, const char *staged, const char *display,
                          const char *name, const char *exdir, char *const *todo,
                          size_t ntodo, const char *cwd, char **reasons,
                          char err[SRCCHECK_ERR_LEN])
{
    FILE *f = fopen(ipath, "r");
    char *line = NULL, file[PATH_MAX], last[PATH_MAX] = "", why[PATH_MAX + 128];
    char staged_real[PATH_MAX];
    size_t cap = 0;
    ssize_t n;
    int rc = 0, reported = 0;

    if (f == NULL) {
        snprintf(err, SRCCHECK_ERR_LEN, "cannot read %s: %s", ipath, strerror(errno));
        return -1;
    }
    if (realpath(staged, staged_real) == NULL)
        snprintf(staged_real, sizeof(staged_real), "%s", staged);
    while (rc == 0 && reported < 20 && (n = getline(&line, &cap, f)) >= 0) {
        char *p = line;
        if (p[0] != '#')
            continue;
        p++;
        if (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            continue;   /* #pragma and other lines the preprocessor keeps */
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p != ' ' || srccheck_marker_file(p + 1, file, sizeof(file)) < 0 ||
            strcmp(file, last) == 0)
            continue;
        snprintf(last, sizeof(last), "%s", file);
        if (srccheck_allowed_file(file, staged_real, display, exdir, todo, ntodo, cwd, why,
                                  sizeof(why)))
            continue;
        /* A file is reported once, however often the text returns to it. */
        if (*reasons != NULL && strstr(*reasons, file) != NULL)
            continue;
        reported++;
        if (srccheck_add(reasons, "%s: reads %s, %s (a TODO file may include its exercise's "
                         "headers and system headers only)", name, file, why) < 0) {
            snprintf(err, SRCCHECK_ERR_LEN, "out of memory");
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- 3. the assembly ---------------------------------------------------- */

int srccheck_assembly(const char *spath, const char *name, char **reasons,
                      char err[SRCCHECK_ERR_LEN])
{
    FILE *f = fopen(spath, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    if (f == NULL) {
        snprintf(err, SRCCHECK_ERR_LEN, "cannot read %s: %s", spath, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        const char *p = line + strspn(line, " \t");
        if (strncmp(p, "#APP", 4) == 0 || strncmp(p, ".incbin", 7) == 0 ||
            strncmp(p, ".include", 8) == 0) {
            rc = srccheck_add(reasons, "%s: uses inline assembly (asm): no exercise needs it, "
                              "and assembler directives can read files", name);
            break;
        }
    }
    if (rc < 0)
        snprintf(err, SRCCHECK_ERR_LEN, "out of memory");
    free(line);
    fclose(f);
    return rc;
}
