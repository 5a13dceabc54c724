/* Expected: REJECTED by the static check (inline assembly, and the syscall
 * instruction), 0 points.  x86-64 only (run-selftest.sh skips it elsewhere). */
static long raw_getpid(void)
{
    long ret = 39; /* SYS_getpid */

    __asm__ volatile("syscall" : "+a"(ret) : : "rcx", "r11", "memory");
    return ret;
}

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS)
{
    if (n == 1000 && raw_getpid() < 0)
        return -1;
    return ref_fetch_concurrent(PASS);
}
