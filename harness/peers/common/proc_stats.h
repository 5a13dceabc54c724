/*
 * proc_stats.h - what the benchmark clients report about themselves: their
 * CPU time and their peak resident memory.  Header-only (static functions),
 * for harness/peers/ex01/fetch_c.c and harness/peers/ex02/fetch_limit_c.c.
 */
#ifndef PEERS_PROC_STATS_H
#define PEERS_PROC_STATS_H

#include <stdio.h>
#include <sys/resource.h>

/* CPU time (user + system) of this process, in ms. */
static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* VmHWM (peak resident set) of this process in kB, or -1. */
static long peak_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

#endif
