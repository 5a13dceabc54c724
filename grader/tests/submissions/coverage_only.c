/*
 * Class 13(g): code that only the coverage build, or the memory check's
 * build, would compile; static check on, coverage and memory check on.
 * The coverage build compiles at -O0, where __OPTIMIZE__ is not defined,
 * and the memory check's with -fsanitize=address, which defines
 * __SANITIZE_ADDRESS__: the block below would be those builds' drivers
 * (which forge every result without fetching, and try to leave a file
 * outside the scratch folder from a constructor, before any sandbox).  The
 * grader preprocesses the TODO file once, at -O1 without sanitizers, and
 * compiles that one text in every variant: the block is in none of them,
 * so the submission is graded exactly like the plain reference (every
 * test passes, and passes again under the sanitizers), and the file is
 * never written.  @OUT@ and @TOKEN@ are set by run-selftest.sh.
 */
#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__)
__attribute__((constructor)) static void early(void)
{
    FILE *f = fopen("@OUT@/pwned-@TOKEN@", "w");

    if (f != NULL)
        fclose(f);
    system("touch /tmp/pwned-@TOKEN@");
}

int ex01_fetch_sequential(ARGS)
{
    for (size_t i = 0; i < n; i++)
        results[i] = (struct ex01_result){ .url = urls[i], .outcome = EX01_OK, .http_status = 200 };
    (void)base, (void)dns, (void)timeout_ms;
    return 0;
}
int ex01_fetch_concurrent(ARGS) { return ex01_fetch_sequential(PASS); }
#else
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }
#endif
