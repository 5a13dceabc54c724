/*
 * ex01_util.c - given code for exercise 1 (see ex01.h).  Not a TODO file.
 */
#include "ex01.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void ex01_results_free(struct ex01_result results[], size_t n)
{
    if (results == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(results[i].body);
        memset(&results[i], 0, sizeof(results[i]));
    }
}

const char *ex01_outcome_name(enum ex01_outcome outcome)
{
    switch (outcome) {
    case EX01_NOT_RUN:        return "EX01_NOT_RUN";
    case EX01_OK:             return "EX01_OK";
    case EX01_ERR_URL:        return "EX01_ERR_URL";
    case EX01_ERR_CONNECTION: return "EX01_ERR_CONNECTION";
    case EX01_ERR_TIMEOUT:    return "EX01_ERR_TIMEOUT";
    case EX01_ERR_INTERNAL:   return "EX01_ERR_INTERNAL";
    }
    return "unknown";
}

double ex01_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
