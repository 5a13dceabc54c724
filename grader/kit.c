/*
 * kit.c - argument vectors and the kit's files (see kit.h).
 */
#define _GNU_SOURCE 1
#include "kit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kit_args_push(struct kit_args *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **g = realloc(a->v, cap * sizeof(*g));
        if (g == NULL)
            return -1;
        a->v = g;
        a->cap = cap;
    }
    if ((a->v[a->n] = strdup(s)) == NULL)
        return -1;
    a->n++;
    a->v[a->n] = NULL;
    return 0;
}

int kit_args_read(struct kit_args *a, const char *file, struct kit_args *todo,
                  char err[KIT_ERR_LEN])
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    if (f == NULL) {
        snprintf(err, KIT_ERR_LEN, "cannot read the kit file %s: %s (was `make kits` run?)",
                 file, strerror(errno));
        return -1;
    }
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (strncmp(line, "todo:", 5) == 0) {
            if (todo != NULL)
                rc = kit_args_push(todo, line + 5);
            continue;
        }
        rc = kit_args_push(a, line);
    }
    if (rc < 0)
        snprintf(err, KIT_ERR_LEN, "out of memory");
    free(line);
    fclose(f);
    return rc;
}

void kit_args_free(struct kit_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}
