/*
 * manifest.c - building and verifying grader/manifest.sha256 (see
 * manifest.h). Hashes with OpenSSL's EVP API.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "runner.h"

#define MANIFEST_HEX_LEN 64
#define MANIFEST_LIST_MAX (8L * 1024 * 1024) /* git ls-files output */
#define MANIFEST_GIT_TIMEOUT_S 60
#define MANIFEST_MAX_DEPTH 32

/* Where the protected files live, for git ls-files. */
static const char *const manifest_roots[] = {
    "harness", "grader", "skeletons", "scripts", "Makefile",
    ".github/workflows", "reference", NULL
};

/* Directories whose added files are reported (new code there could be
 * picked up by a wildcard of the build). */
static const char *const manifest_watched_dirs[] = { "harness", "grader",
                                                     NULL };

static void manifest_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, MANIFEST_ERR_LEN, fmt, ap);
    va_end(ap);
}

/* Writes "a/b" into buf; -1 when it does not fit. */
static int manifest_join(char *buf, size_t len, const char *a, const char *b)
{
    int n = snprintf(buf, len, "%s/%s", a, b);

    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int manifest_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ------------------------------------------------------------------ */
/* Hashing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Writes the SHA-256 of the regular file path as 64 lowercase hex digits
 * into hex. Returns 0, or -1 with errno set (ENOENT for a missing file,
 * EINVAL for something that is not a regular file).
 */
static int manifest_hash_file(const char *path, char hex[MANIFEST_HEX_LEN + 1])
{
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    EVP_MD_CTX *ctx = NULL;
    struct stat st;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;

    if (fd < 0 || fstat(fd, &st) < 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        goto crypto;
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            goto crypto;
    if (n < 0)
        goto out;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen * 2 != MANIFEST_HEX_LEN)
        goto crypto;
    for (i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    rc = 0;
    goto out;

crypto:
    errno = EIO;
out:
    EVP_MD_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Building                                                            */
/* ------------------------------------------------------------------ */

/* Runs git ls-files in root; out->buf receives the NUL-separated list. */
static int manifest_git_list(const char *root, struct runner_capture *cap,
                             char err[MANIFEST_ERR_LEN])
{
    const char *argv[16] = { "git", "-C", root, "ls-files", "-z", "--cached",
                             "--others", "--exclude-standard", "--" };
    struct runner_spec spec = { argv, NULL, NULL, MANIFEST_GIT_TIMEOUT_S, 0,
                                0, NULL, NULL, 0, cap };
    struct runner_result res;
    char rerr[RUNNER_ERR_LEN];
    size_t i, k = 9;

    for (i = 0; manifest_roots[i] != NULL; i++)
        argv[k++] = manifest_roots[i];
    argv[k] = NULL;
    if (runner_run(&spec, &res, rerr) < 0) {
        manifest_seterr(err, "cannot list the files: %s", rerr);
        return -1;
    }
    if (res.outcome != RUNNER_EXITED || res.status != 0 ||
        cap->total >= cap->size) {
        manifest_seterr(err, "git ls-files failed in %s (a git checkout is "
                        "needed to write the manifest): %.120s", root,
                        cap->buf);
        return -1;
    }
    return 0;
}

static const struct rubric *manifest_rubric_of(struct rubric *const *rubrics,
                                               size_t n, const char *exdir,
                                               size_t len)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strlen(rubrics[i]->exdir) == len &&
            strncmp(rubrics[i]->exdir, exdir, len) == 0)
            return rubrics[i];
    return NULL;
}

/*
 * Decides whether path belongs in the manifest: 1 yes, 0 no. A skeleton
 * folder without a rubric is left out (the exercise is not graded yet).
 */
static int manifest_wanted(const char *path, struct rubric *const *rubrics,
                           size_t n)
{
    const struct rubric *r;
    const char *rest, *slash;

    if (strcmp(path, MANIFEST_PATH) == 0 ||
        strncmp(path, "grader/tests/", 13) == 0)
        return 0;
    if (strncmp(path, "skeletons/", 10) != 0)
        return 1;
    rest = path + 10;
    slash = strchr(rest, '/');
    if (slash == NULL)
        return 1;
    r = manifest_rubric_of(rubrics, n, rest, (size_t)(slash - rest));
    return r != NULL && !rubric_is_todo(r, slash + 1);
}

/* Every exercise with a skeleton folder must say which files are TODO. */
static int manifest_check_todo(const char *root, struct rubric *const *rubrics,
                               size_t n, char err[MANIFEST_ERR_LEN])
{
    char dir[PATH_MAX];
    struct stat st;
    size_t i;

    for (i = 0; i < n; i++) {
        if (rubrics[i]->todo != NULL ||
            snprintf(dir, sizeof(dir), "%s/skeletons/%s", root,
                     rubrics[i]->exdir) >= (int)sizeof(dir) ||
            stat(dir, &st) < 0)
            continue;
        manifest_seterr(err, "%s has no \"todo\" list: the manifest cannot "
                        "tell the files students edit", rubrics[i]->path);
        return -1;
    }
    return 0;
}

/* Collects the wanted paths of the NUL-separated list into *paths. */
static int manifest_select(const struct runner_capture *cap,
                           struct rubric *const *rubrics, size_t n,
                           const char ***paths, size_t *count)
{
    const char *p;
    size_t cap_n = 0;

    *paths = NULL;
    *count = 0;
    for (p = cap->buf; p < cap->buf + cap->len; p += strlen(p) + 1) {
        if (*p == '\0' || !manifest_wanted(p, rubrics, n))
            continue;
        if (*count == cap_n) {
            const char **grown = realloc(*paths, (cap_n ? cap_n * 2 : 64) *
                                                     sizeof(*grown));
            if (grown == NULL)
                return -1;
            *paths = grown;
            cap_n = cap_n ? cap_n * 2 : 64;
        }
        (*paths)[(*count)++] = p;
    }
    return 0;
}

/* Appends "hash  path\n" for each path (skipping deleted files) to out. */
static int manifest_emit(FILE *out, const char *root, const char **paths,
                         size_t count, char err[MANIFEST_ERR_LEN])
{
    char full[PATH_MAX], hex[MANIFEST_HEX_LEN + 1];
    size_t i;

    for (i = 0; i < count; i++) {
        if (strpbrk(paths[i], "\n\\") != NULL) {
            manifest_seterr(err, "cannot list a path with a newline or a "
                            "backslash: %s", paths[i]);
            return -1;
        }
        if (manifest_join(full, sizeof(full), root, paths[i]) < 0) {
            manifest_seterr(err, "path too long: %s", paths[i]);
            return -1;
        }
        if (manifest_hash_file(full, hex) < 0) {
            if (errno == ENOENT || errno == EINVAL || errno == ELOOP)
                continue; /* deleted, or not a regular file */
            manifest_seterr(err, "cannot hash %s: %s", full, strerror(errno));
            return -1;
        }
        fprintf(out, "%s  %s\n", hex, paths[i]);
    }
    return 0;
}

int manifest_build(const char *root, struct rubric *const *rubrics, size_t n,
                   char **text, char err[MANIFEST_ERR_LEN])
{
    struct runner_capture cap = { NULL, MANIFEST_LIST_MAX, 0, 0, 0, 0 };
    const char **paths = NULL;
    size_t count = 0, len = 0;
    FILE *out = NULL;
    int rc = -1;

    *text = NULL;
    if (manifest_check_todo(root, rubrics, n, err) < 0)
        return -1;
    if ((cap.buf = malloc(cap.size)) == NULL) {
        manifest_seterr(err, "out of memory");
        return -1;
    }
    if (manifest_git_list(root, &cap, err) < 0)
        goto out;
    if (manifest_select(&cap, rubrics, n, &paths, &count) < 0 ||
        (out = open_memstream(text, &len)) == NULL) {
        manifest_seterr(err, "out of memory");
        goto out;
    }
    if (count > 1)
        qsort(paths, count, sizeof(*paths), manifest_cmp);
    rc = manifest_emit(out, root, paths, count, err);

out:
    if (out != NULL && fclose(out) != 0 && rc == 0) {
        manifest_seterr(err, "out of memory");
        rc = -1;
    }
    if (rc < 0) {
        free(*text);
        *text = NULL;
    }
    free(paths);
    free(cap.buf);
    return rc;
}

int manifest_write(const char *root, const char *text,
                   char err[MANIFEST_ERR_LEN])
{
    char path[PATH_MAX], tmp[PATH_MAX];
    FILE *f = NULL;
    int ok;

    if (manifest_join(path, sizeof(path), root, MANIFEST_PATH) < 0 ||
        manifest_join(tmp, sizeof(tmp), root, MANIFEST_PATH ".tmp") < 0) {
        manifest_seterr(err, "root path too long");
        return -1;
    }
    if ((f = fopen(tmp, "w")) == NULL) {
        manifest_seterr(err, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        manifest_seterr(err, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Reads ROOT/grader/manifest.sha256; NULL with errno ENOENT if absent. */
static char *manifest_read(const char *root, char err[MANIFEST_ERR_LEN])
{
    char path[PATH_MAX], *buf = NULL;
    size_t len = 0, got;
    FILE *f, *out;
    char chunk[8192];

    int saved;

    if (manifest_join(path, sizeof(path), root, MANIFEST_PATH) < 0) {
        manifest_seterr(err, "root path too long");
        errno = ENAMETOOLONG;
        return NULL;
    }
    if ((f = fopen(path, "r")) == NULL) {
        saved = errno;
        manifest_seterr(err, "cannot read %s: %s", path, strerror(saved));
        errno = saved;
        return NULL;
    }
    if ((out = open_memstream(&buf, &len)) == NULL) {
        fclose(f);
        manifest_seterr(err, "out of memory");
        return NULL;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, got, out);
    fclose(f);
    if (fclose(out) != 0) {
        free(buf);
        manifest_seterr(err, "out of memory");
        return NULL;
    }
    return buf;
}

/* Splits a manifest line in place into hash and path; -1 if malformed. */
static int manifest_parse_line(char *line, char **hash, char **path)
{
    size_t i;

    for (i = 0; i < MANIFEST_HEX_LEN; i++)
        if (line[i] == '\0' || strchr("0123456789abcdef", line[i]) == NULL)
            return -1;
    if (line[MANIFEST_HEX_LEN] != ' ' || line[MANIFEST_HEX_LEN + 1] != ' ' ||
        line[MANIFEST_HEX_LEN + 2] == '\0')
        return -1;
    line[MANIFEST_HEX_LEN] = '\0';
    *hash = line;
    *path = line + MANIFEST_HEX_LEN + 2;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Verifying                                                           */
/* ------------------------------------------------------------------ */

struct manifest_verify_state {
    const char *subroot;
    FILE *out;        /* findings, one per line */
    size_t findings;
    char **listed;    /* the manifest's paths, sorted */
    size_t nlisted;
};

static void manifest_finding(struct manifest_verify_state *v,
                             const char *what, const char *path)
{
    fprintf(v->out, "  %s: %s\n", what, path);
    v->findings++;
}

static void manifest_check_one(struct manifest_verify_state *v,
                               const char *hash, const char *path)
{
    char full[PATH_MAX], hex[MANIFEST_HEX_LEN + 1];

    if (manifest_join(full, sizeof(full), v->subroot, path) < 0)
        manifest_finding(v, "unreadable", path);
    else if (manifest_hash_file(full, hex) < 0)
        manifest_finding(v, errno == ENOENT ? "missing" : "unreadable", path);
    else if (strcmp(hex, hash) != 0)
        manifest_finding(v, "changed", path);
}

static int manifest_is_listed(const struct manifest_verify_state *v,
                              const char *path)
{
    return bsearch(&path, v->listed, v->nlisted, sizeof(*v->listed),
                   manifest_cmp) != NULL;
}

/* Reports the regular files under rel (a watched directory) not listed. */
static void manifest_find_added(struct manifest_verify_state *v,
                                const char *rel, int depth)
{
    char full[PATH_MAX], child[PATH_MAX];
    struct dirent *de;
    struct stat st;
    DIR *dir;

    if (depth > MANIFEST_MAX_DEPTH ||
        manifest_join(full, sizeof(full), v->subroot, rel) < 0 ||
        (dir = opendir(full)) == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (manifest_join(child, sizeof(child), rel, de->d_name) < 0 ||
            manifest_join(full, sizeof(full), v->subroot, child) < 0 ||
            !manifest_wanted(child, NULL, 0) || lstat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            manifest_find_added(v, child, depth + 1);
        else if (!manifest_is_listed(v, child))
            manifest_finding(v, "added", child);
    }
    closedir(dir);
}

/* Checks every line of the manifest text (modified in place). */
static int manifest_check_all(struct manifest_verify_state *v, char *text,
                              char err[MANIFEST_ERR_LEN])
{
    char *line, *next, *hash, *path;
    size_t lineno = 0;

    for (line = text; *line != '\0'; line = next) {
        next = line + strcspn(line, "\n");
        if (*next == '\n')
            *next++ = '\0';
        lineno++;
        if (manifest_parse_line(line, &hash, &path) < 0) {
            manifest_seterr(err, "%s:%zu: not a \"<sha256>  <path>\" line",
                            MANIFEST_PATH, lineno);
            return -1;
        }
        v->listed[v->nlisted++] = path;
        manifest_check_one(v, hash, path);
    }
    return 0;
}

static size_t manifest_count_lines(const char *text)
{
    size_t n = 0;

    for (; *text != '\0'; text++)
        n += *text == '\n';
    return n + 1;
}

/* Frames the findings for the report. */
static char *manifest_warning_text(const struct manifest_verify_state *v,
                                   const char *findings)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    fprintf(out, "INTEGRITY: %zu file%s outside your TODO files differ "
            "from the trusted manifest (%s):\n%s", v->findings,
            v->findings == 1 ? "" : "s", MANIFEST_PATH, findings);
    fprintf(out, "Edit only the files with TODO markers; the official "
            "grading uses the original copies of these files.");
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int manifest_verify_text(const char *subroot, char *text,
                                char **warning, char err[MANIFEST_ERR_LEN])
{
    struct manifest_verify_state v = { subroot, NULL, 0, NULL, 0 };
    char *findings = NULL;
    size_t flen = 0, i;
    int rc = -1;

    v.listed = calloc(manifest_count_lines(text), sizeof(*v.listed));
    v.out = open_memstream(&findings, &flen);
    if (v.listed == NULL || v.out == NULL) {
        manifest_seterr(err, "out of memory");
        goto out;
    }
    if (manifest_check_all(&v, text, err) < 0)
        goto out;
    if (v.nlisted > 1)
        qsort(v.listed, v.nlisted, sizeof(*v.listed), manifest_cmp);
    for (i = 0; manifest_watched_dirs[i] != NULL; i++)
        manifest_find_added(&v, manifest_watched_dirs[i], 0);
    rc = 0;

out:
    if (v.out != NULL && fclose(v.out) != 0 && rc == 0) {
        manifest_seterr(err, "out of memory");
        rc = -1;
    }
    if (rc == 0 && v.findings > 0 &&
        (*warning = manifest_warning_text(&v, findings)) == NULL) {
        manifest_seterr(err, "out of memory");
        rc = -1;
    }
    free(findings);
    free(v.listed);
    return rc;
}

int manifest_verify(const char *root, const char *subroot, char **warning,
                    char err[MANIFEST_ERR_LEN])
{
    char *text;
    int rc;

    *warning = NULL;
    text = manifest_read(root, err);
    if (text == NULL && errno == ENOENT) {
        *warning = strdup("INTEGRITY: " MANIFEST_PATH " is missing: the "
                          "files outside your TODO files were not checked.");
        if (*warning == NULL) {
            manifest_seterr(err, "out of memory");
            return -1;
        }
        return 0;
    }
    if (text == NULL)
        return -1;
    rc = manifest_verify_text(subroot, text, warning, err);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Staleness                                                           */
/* ------------------------------------------------------------------ */

/* Splits text into its non-empty lines (in place); sorted array. */
static char **manifest_split(char *text, size_t *n)
{
    char **lines = calloc(manifest_count_lines(text), sizeof(*lines));
    char *line, *next;

    *n = 0;
    if (lines == NULL)
        return NULL;
    for (line = text; *line != '\0'; line = next) {
        next = line + strcspn(line, "\n");
        if (*next == '\n')
            *next++ = '\0';
        if (*line != '\0')
            lines[(*n)++] = line;
    }
    if (*n > 1)
        qsort(lines, *n, sizeof(*lines), manifest_cmp);
    return lines;
}

/* Writes to out each line of a that b lacks, after prefix. */
static void manifest_lines_not_in(FILE *out, char **a, size_t na, char **b,
                                  size_t nb, const char *prefix)
{
    size_t i;

    for (i = 0; i < na; i++)
        if (bsearch(&a[i], b, nb, sizeof(*b), manifest_cmp) == NULL)
            fprintf(out, "%s%s\n", prefix, a[i]);
}

/* Writes the differences between the texts old and now to out. */
static int manifest_diff(FILE *out, char *old, char *now)
{
    size_t nold = 0, nnow = 0;
    char **lold = manifest_split(old, &nold), **lnow = manifest_split(now,
                                                                      &nnow);
    int rc = -1;

    if (lold != NULL && lnow != NULL) {
        manifest_lines_not_in(out, lold, nold, lnow, nnow, "- ");
        manifest_lines_not_in(out, lnow, nnow, lold, nold, "+ ");
        rc = 0;
    }
    free(lold);
    free(lnow);
    return rc;
}

int manifest_compare(const char *root, const char *text, char **diff,
                     char err[MANIFEST_ERR_LEN])
{
    char *old = manifest_read(root, err), *now = NULL;
    size_t len = 0;
    FILE *out = NULL;
    int rc = -1;

    *diff = NULL;
    if (old == NULL && errno != ENOENT)
        return -1;
    if (old != NULL && strcmp(old, text) == 0) {
        free(old);
        return 0;
    }
    if ((now = strdup(text)) == NULL ||
        (out = open_memstream(diff, &len)) == NULL)
        goto out;
    if (old == NULL)
        fprintf(out, "%s does not exist\n", MANIFEST_PATH);
    if (manifest_diff(out, old != NULL ? old : now + strlen(now), now) == 0)
        rc = 1;

out:
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    if (rc < 0) {
        manifest_seterr(err, "out of memory");
        free(*diff);
        *diff = NULL;
    }
    free(old);
    free(now);
    return rc;
}
