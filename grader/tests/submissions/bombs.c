/*
 * Class 13(f): an unbounded fork bomb and a thread bomb; graded with
 * --no-static-check (fork, syscall and pthread_create are not allowed),
 * and once with it, to see it rejected.
 *   ex01_sequential::one_request_at_a_time (5 URLs, sequential): forks for
 *     ever, with fork() and with clone() itself; the seccomp filter refuses
 *     each (it says how on stderr, once), so the loop spins until the judge
 *     gives up on it (no request reached its server);
 *   ex01_sequential::results_follow_url_order (4 URLs, sequential): starts
 *     threads that sleep for ever until it may start no more (RLIMIT_NPROC
 *     of the subject's uid, or its memory limit), says how many on stderr,
 *     and waits for ever too.
 * Those two tests fail, within their time limits (the judge shows the
 * subject's output: run-selftest.sh checks the counts), the others pass,
 * and no process of the run is left.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int ex01_fetch_sequential(ARGS)
{
    if (n == 5) {
        int told = 0;
        for (;;) {
            if (fork() == 0 || syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0) == 0)
                continue;   /* a child: bomb on */
            if (!told++)
                fprintf(stderr, "bombs: fork() failed: %s\n", strerror(errno));
        }
    }
    if (n == 4) {
        pthread_t t;
        long threads = 0;
        while (pthread_create(&t, NULL, sleeper, NULL) == 0)
            threads++;
        fprintf(stderr, "bombs: %ld threads, then no more\n", threads);
        for (;;)
            pause();
    }
    return ref_fetch_sequential(PASS);
}

int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }
