/*
 * Class 13(e): writing files outside the scratch folder: another
 * exercise's harness, this exercise's rubric and judge, the workbook's
 * shared harness, the grader's reports and logs, the other scratch
 * folders; graded with --no-static-check (fopen is not allowed), and once
 * with it, to see it rejected.  Before doing its work, every call tries
 * to append to each file and to create a new one beside it.  When one
 * works, the call returns -1 (the score would drop); the sandbox refuses
 * them all, every test passes, and the self-test checks that every file of
 * the workbook and of the reports is unchanged and that no new file
 * appeared.  run-selftest.sh sets @TARGETS@ (files_targets: the workbook's
 * files above, the reports, new files in each folder, /tmp, /dev/shm).
 * The batch case's first submission is this file too, aimed at its own
 * copy of the workbook, the others' copies, the original and the shared
 * reference build (batch_targets).
 */
static int try_write(const char *path)
{
    FILE *f = fopen(path, "a");

    if (f == NULL)
        return 0;
    fputs("\n/* tampered */\n", f);
    fclose(f);
    fprintf(stderr, "files: wrote %s\n", path);
    return 1;
}

static int tamper(void)
{
    static const char *const targets[] = { @TARGETS@ };
    int hits = 0;

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        hits += try_write(targets[i]);
    return hits;
}

int ex01_fetch_sequential(ARGS)
{
    return tamper() ? -1 : ref_fetch_sequential(PASS);
}

int ex01_fetch_concurrent(ARGS)
{
    return tamper() ? -1 : ref_fetch_concurrent(PASS);
}
