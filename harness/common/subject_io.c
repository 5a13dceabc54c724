/*
 * subject_io.c - the subject's side of the channel (see subject_io.h).
 */
#include "subject_io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

static char *sio_buf;
static size_t sio_len, sio_cap;
static int sio_eof;

void sio_init(const char *name)
{
    if (fcntl(SIO_JOB_FD, F_GETFD) < 0 || fcntl(SIO_ANSWER_FD, F_GETFD) < 0) {
        fprintf(stderr,
                "%s: this program is a subject of the tests: the judge starts it and sends it\n"
                "jobs on its file descriptor 3.  Run the tests instead (make ex01, ...), or the\n"
                "exercise's own program (build/bin/ex01 --help, ...).\n", name);
        exit(2);
    }
    /* The judge may close the channel at any time: a write then fails
     * with EPIPE rather than killing the process. */
    signal(SIGPIPE, SIG_IGN);
    /* stdout goes to a log file: line by line, so that the student's
     * prints are there even when the judge has to kill the process. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    wb_sandbox_enter_or_die();
}

/* A line from the buffer, or NULL; removes it from the buffer. */
static char *sio_take_line(size_t *n)
{
    char *nl = sio_len ? memchr(sio_buf, '\n', sio_len) : NULL;
    char *line;

    if (nl == NULL)
        return NULL;
    *n = (size_t)(nl - sio_buf);
    line = malloc(*n + 1);
    if (line == NULL)
        return NULL;
    memcpy(line, sio_buf, *n);
    line[*n] = '\0';
    sio_len -= *n + 1;
    memmove(sio_buf, nl + 1, sio_len);
    return line;
}

json_t *sio_read_job(void)
{
    size_t n;
    char *line;

    while ((line = sio_take_line(&n)) == NULL) {
        ssize_t r;
        if (sio_eof)
            return NULL;
        if (sio_cap - sio_len < 65536) {
            size_t cap = sio_cap ? sio_cap * 2 : 131072;
            char *b = realloc(sio_buf, cap);
            if (b == NULL)
                return NULL;
            sio_buf = b;
            sio_cap = cap;
        }
        r = read(SIO_JOB_FD, sio_buf + sio_len, sio_cap - sio_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            sio_eof = 1;
        else
            sio_len += (size_t)r;
    }
    json_error_t jerr;
    json_t *job = json_loadb(line, n, 0, &jerr);
    free(line);
    if (!json_is_object(job)) {
        fprintf(stderr, "subject: a job that is not a JSON object: %s\n", jerr.text);
        json_decref(job);
        return NULL;
    }
    return job;
}

static int sio_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(SIO_ANSWER_FD, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sio_answer(const json_t *job, json_t *obj)
{
    char *text;
    int rc = -1;

    if (obj == NULL)
        return -1;
    if (job != NULL && json_object_get(job, "id") != NULL)
        json_object_set(obj, "id", json_object_get(job, "id"));
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text != NULL) {
        size_t n = strlen(text);
        text[n] = '\n';     /* json_dumps's '\0' becomes the newline */
        rc = sio_write_all(text, n + 1);
        free(text);
    }
    return rc;
}

int sio_event(json_t *obj)
{
    return sio_answer(NULL, obj);
}

json_t *sio_hex(const void *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    char *hex = malloc(2 * n + 1);
    json_t *j;

    if (hex == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 15];
    }
    j = json_stringn(hex, 2 * n);
    free(hex);
    return j;
}

static int sio_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

unsigned char *sio_unhex(const json_t *str, size_t *n)
{
    const char *s = json_string_value(str);
    size_t len = json_string_length(str);
    unsigned char *out;

    if (s == NULL || len % 2 != 0)
        return NULL;
    out = malloc(len / 2 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = sio_nibble(s[2 * i]), lo = sio_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    out[len / 2] = '\0';
    *n = len / 2;
    return out;
}
