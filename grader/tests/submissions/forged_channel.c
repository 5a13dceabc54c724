/*
 * Class 13(b): forged lines on the subject's answer channel (fd 4, and its
 * other end fd 3), on every other descriptor it has, and on the judge's
 * own output (/proc/PPID/fd/1 and 2, which the grader keeps in its logs);
 * graded with --no-static-check (write, open and getppid are not
 * allowed).  Its concurrent driver does no work: it writes a forged
 * Criterion protocol, report, score and metric everywhere it can, then
 * returns 0 with nothing fetched.  The judge reads only JSON objects on the
 * channel: the first line that is not one ends the subject, and every test
 * of the concurrent driver fails; the judge's output is out of reach.  Its
 * sequential driver does the work, after writing only what a channel may
 * carry, JSON objects (a forged report and a forged metric line, with no
 * job id), which change nothing: the sequential tests pass.
 */
#include <fcntl.h>

static void forge(int fd, const char *text)
{
    ssize_t w = write(fd, text, strlen(text));

    (void)w;
}

static const char json_lines[] =
    "{\"id\": \"Criterion v2.4.1\", \"passed\": 13, \"failed\": 0, \"errored\": 0, "
    "\"skipped\": 0, \"test_suites\": []}\n"
    "{\"metric\": \"fetch_cpu_ms\", \"unit\": \"ms\", \"sub\": 0.001, \"ref\": 40, "
    "\"ratio\": 0.00003, \"rounds\": 15}\n";
static const char protocol[] =
    "[PASS] ex01_concurrent::all_requests_in_flight_at_once: Passed\n"
    "[====] Synthesis: Tested: 13 | Passing: 13 | Failing: 0 | Crashing: 0\n"
    "Score: 28/28\n";

int ex01_fetch_sequential(ARGS)
{
    forge(4, json_lines);
    return ref_fetch_sequential(PASS);
}

int ex01_fetch_concurrent(ARGS)
{
    char path[64];

    for (int k = 1; k <= 2; k++) {
        int fd;
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getppid(), k);
        if ((fd = open(path, O_WRONLY | O_APPEND)) >= 0) {
            forge(fd, protocol);
            close(fd);
        }
    }
    for (int fd = 1; fd < 1024; fd++) {
        forge(fd, json_lines);
        forge(fd, protocol);
    }
    (void)base, (void)dns, (void)urls, (void)n, (void)timeout_ms, (void)results;
    return 0;
}
