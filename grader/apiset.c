/*
 * apiset.c - the functions the public headers declare (see apiset.h).
 */
#define _GNU_SOURCE 1
#include "apiset.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"
#include "runner.h"

#define APISET_TIMEOUT_S 120

/* The headers of the libraries and of the C library that the exercises
 * use.  (Compatibility and internal headers are left out on purpose.) */
static const char *const apiset_headers[] = {
    "stddef.h", "stdio.h", "stdlib.h", "string.h", "strings.h", "ctype.h", "math.h",
    "time.h", "errno.h", "stdint.h", "inttypes.h", "limits.h", "stdarg.h", "stdbool.h",
    "event2/event.h", "event2/http.h", "event2/buffer.h", "event2/bufferevent.h",
    "event2/listener.h", "event2/util.h", "event2/dns.h", "event2/thread.h",
    "event2/keyvalq_struct.h", "event2/http_struct.h",
    "jansson.h", "sqlite3.h", "openssl/evp.h", "openssl/sha.h", "openssl/crypto.h",
    NULL
};

static void apiset_err(char err[APISET_ERR_LEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void apiset_err(char err[APISET_ERR_LEN], const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, APISET_ERR_LEN, fmt, ap);
    va_end(ap);
}

static int apiset_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The function name of an -aux-info declaration, or NULL. */
static int apiset_name(const char *decl, char *out, size_t len)
{
    const char *paren = strchr(decl, '('), *end, *start;

    while (paren != NULL) {
        end = paren;
        while (end > decl && end[-1] == ' ')
            end--;
        start = end;
        while (start > decl && (start[-1] == '_' || (start[-1] >= 'a' && start[-1] <= 'z') ||
                                (start[-1] >= 'A' && start[-1] <= 'Z') ||
                                (start[-1] >= '0' && start[-1] <= '9')))
            start--;
        if (end > start && (size_t)(end - start) < len) {
            memcpy(out, start, (size_t)(end - start));
            out[end - start] = '\0';
            return 0;
        }
        paren = strchr(paren + 1, '(');
    }
    return -1;
}

static int apiset_add(struct apiset *a, size_t *cap, const char *name)
{
    if (a->n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        char **g = realloc(a->names, c * sizeof(*g));
        if (g == NULL)
            return -1;
        a->names = g;
        *cap = c;
    }
    if ((a->names[a->n] = strdup(name)) == NULL)
        return -1;
    a->n++;
    return 0;
}

static int apiset_write_source(const char *path, const char *exheaders, char err[APISET_ERR_LEN])
{
    FILE *f = fopen(path, "w");
    DIR *d;
    struct dirent *de;

    if (f == NULL) {
        apiset_err(err, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "/* The public API of the exercises, for the grader (apiset.c). */\n");
    for (size_t i = 0; apiset_headers[i] != NULL; i++)
        fprintf(f, "#include <%s>\n", apiset_headers[i]);
    if ((d = opendir(exheaders)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            if (n > 2 && strcmp(de->d_name + n - 2, ".h") == 0)
                fprintf(f, "#include \"%s/%s\"\n", exheaders, de->d_name);
        }
        closedir(d);
    }
    if (fclose(f) != 0) {
        apiset_err(err, "cannot write %s", path);
        return -1;
    }
    return 0;
}

/* Adds every identifier of the *.h files of dir (comments included: a
 * name a header mentions is that exercise's own). */
static int apiset_header_words(struct apiset *a, size_t *cap, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[PATH_MAX], word[256];

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), k = 0;
        FILE *f;
        int c;
        if (n < 3 || strcmp(de->d_name + n - 2, ".h") != 0 ||
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
            (f = fopen(path, "r")) == NULL)
            continue;
        while ((c = fgetc(f)) != EOF) {
            if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (k > 0 && c >= '0' && c <= '9')) {
                if (k + 1 < sizeof(word))
                    word[k++] = (char)c;
                continue;
            }
            if (k > 0) {
                word[k] = '\0';
                k = 0;
                if (apiset_add(a, cap, word) < 0) {
                    fclose(f);
                    closedir(d);
                    return -1;
                }
            }
        }
        fclose(f);
    }
    closedir(d);
    return 0;
}

int apiset_load(struct apiset *a, const char *exheaders, const char *cflags_file,
                const char *workdir, char err[APISET_ERR_LEN])
{
    char src[PATH_MAX], aux[PATH_MAX], log[PATH_MAX], *line = NULL, name[256];
    struct kit_args args;
    struct runner_result res;
    char rerr[RUNNER_ERR_LEN];
    size_t cap = 0, lcap = 0;
    FILE *f = NULL;
    int rc = -1;

    memset(a, 0, sizeof(*a));
    memset(&args, 0, sizeof(args));
    if (snprintf(src, sizeof(src), "%s/api.c", workdir) >= (int)sizeof(src) ||
        snprintf(aux, sizeof(aux), "%s/api.aux", workdir) >= (int)sizeof(aux) ||
        snprintf(log, sizeof(log), "%s/api.log", workdir) >= (int)sizeof(log)) {
        apiset_err(err, "path too long");
        return -1;
    }
    if (apiset_write_source(src, exheaders, err) < 0 ||
        kit_args_push(&args, "gcc") < 0 || kit_args_read(&args, cflags_file, NULL, err) < 0)
        goto out;
    if (kit_args_push(&args, "-fsyntax-only") < 0 || kit_args_push(&args, "-aux-info") < 0 ||
        kit_args_push(&args, aux) < 0 || kit_args_push(&args, src) < 0) {
        apiset_err(err, "out of memory");
        goto out;
    }
    {
        struct runner_spec spec = { (const char *const *)args.v, NULL, log, APISET_TIMEOUT_S,
                                    APISET_TIMEOUT_S, 0, NULL, NULL, 0, NULL };
        if (runner_run(&spec, &res, rerr) < 0) {
            apiset_err(err, "cannot run gcc: %s", rerr);
            goto out;
        }
        if (res.outcome != RUNNER_EXITED || res.status != 0) {
            apiset_err(err, "the public headers do not compile (see %s)", log);
            goto out;
        }
    }
    if ((f = fopen(aux, "r")) == NULL) {
        apiset_err(err, "cannot read %s: %s", aux, strerror(errno));
        goto out;
    }
    while (getline(&line, &lcap, f) >= 0) {
        const char *decl = strstr(line, "*/");
        if (decl == NULL || apiset_name(decl + 2, name, sizeof(name)) < 0)
            continue;
        if (apiset_add(a, &cap, name) < 0) {
            apiset_err(err, "out of memory");
            goto out;
        }
    }
    /* The exercise's own headers also declare data (chat_page_html), which
     * -aux-info does not list: every identifier they name counts. */
    if (apiset_header_words(a, &cap, exheaders) < 0) {
        apiset_err(err, "out of memory");
        goto out;
    }
    qsort(a->names, a->n, sizeof(*a->names), apiset_cmp);
    {
        size_t k = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (k > 0 && strcmp(a->names[k - 1], a->names[i]) == 0)
                free(a->names[i]);
            else
                a->names[k++] = a->names[i];
        }
        a->n = k;
    }
    rc = a->n > 0 ? 0 : -1;
    if (rc < 0)
        apiset_err(err, "gcc -aux-info listed no declaration (see %s)", aux);

out:
    if (f != NULL)
        fclose(f);
    free(line);
    kit_args_free(&args);
    if (rc < 0)
        apiset_free(a);
    return rc;
}

int apiset_has(const struct apiset *a, const char *name)
{
    return a->n > 0 && bsearch(&name, a->names, a->n, sizeof(*a->names), apiset_cmp) != NULL;
}

void apiset_free(struct apiset *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->names[i]);
    free(a->names);
    memset(a, 0, sizeof(*a));
}
