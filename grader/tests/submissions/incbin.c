/*
 * Class 14: include laundering by the assembler: an .incbin directive in
 * an asm statement reads a file into the object, with no #include at all
 * (here the reference solution, @SOLUTION@).  Expected: REJECTED by the
 * static check (inline assembly), 0 points.
 */
__asm__(".section .rodata\n"
        "laundered: .incbin \"@SOLUTION@\"\n"
        ".previous");

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }
