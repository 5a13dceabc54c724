/*
 * Class 14: a submission that tries to hold the grader past its budget;
 * static check on.  Every call does the work, then runs the event loop
 * for ever (with nothing to wait for, so without using the CPU), so that
 * every test waits for an answer until its judge gives up, seconds later:
 * over a minute in all.  Graded with --exercise-budget 8: the grading
 * ends within the budget, what it had no time for scores 0, and the
 * report says the budget ran out.  Expected: 0 points.
 */
static int hang(int rc, struct event_base *base)
{
    if (base != NULL)
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    return rc;
}

int ex01_fetch_sequential(ARGS) { return hang(ref_fetch_sequential(PASS), base); }
int ex01_fetch_concurrent(ARGS) { return hang(ref_fetch_concurrent(PASS), base); }
