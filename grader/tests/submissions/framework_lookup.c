/*
 * Class 13(a): calling the test framework's functions found in memory.
 * Passes the static check: it names no forbidden symbol, it only reads
 * memory.  From its own code it walks back to the program's ELF header,
 * finds the dynamic linker's list of loaded objects (DT_DEBUG), and
 * searches every object's dynamic symbols for Criterion's (criterion_*,
 * cr_*), to call them and report the tests passed, as it could when the
 * tests ran in the student's process.  The subject has no test framework
 * in it: nothing to find.  Its concurrent driver does no work (it counts
 * on the forgery), so every test of the concurrent driver fails, and the
 * sequential driver's tests pass: exactly the sequential tests' points.
 * run-selftest.sh also links this walker with libcriterion to show that it
 * does find Criterion where Criterion is (WALKER_MAIN).
 */
#include <elf.h>
#include <link.h>
#include <stdint.h>

/* Counts the dynamic symbols named prefix* of every loaded object; the
 * first one's address goes to *first. */
static size_t find_symbols(const void *from, const char *prefix, void **first)
{
    uintptr_t page = (uintptr_t)from & ~(uintptr_t)4095;
    const ElfW(Ehdr) *eh;
    const ElfW(Phdr) *ph;
    const ElfW(Dyn) *dyn = NULL;
    struct r_debug *dbg = NULL;
    size_t found = 0;

    while (memcmp((const void *)page, ELFMAG, SELFMAG) != 0)
        page -= 4096;
    eh = (const ElfW(Ehdr) *)page;
    ph = (const ElfW(Phdr) *)(page + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(page + ph[i].p_vaddr);
    for (; dyn != NULL && dyn->d_tag != DT_NULL; dyn++)
        if (dyn->d_tag == DT_DEBUG)
            dbg = (struct r_debug *)dyn->d_un.d_ptr;
    for (struct link_map *m = dbg ? dbg->r_map : NULL; m != NULL; m = m->l_next) {
        const ElfW(Sym) *sym = NULL;
        const char *str = NULL;
        for (const ElfW(Dyn) *d = m->l_ld; d != NULL && d->d_tag != DT_NULL; d++) {
            /* The loader relocated these, except in the vDSO's table. */
            uintptr_t p = d->d_un.d_ptr < m->l_addr ? m->l_addr + d->d_un.d_ptr : d->d_un.d_ptr;
            if (d->d_tag == DT_SYMTAB)
                sym = (const ElfW(Sym) *)p;
            if (d->d_tag == DT_STRTAB)
                str = (const char *)p;
        }
        /* .dynsym comes right before .dynstr in the objects ld makes. */
        for (size_t k = 0; sym != NULL && str != NULL && (const char *)&sym[k] < str; k++) {
            if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name == 0 ||
                strncmp(str + sym[k].st_name, prefix, strlen(prefix)) != 0)
                continue;
            if (found++ == 0 && first != NULL)
                *first = (void *)(m->l_addr + sym[k].st_value);
        }
    }
    return found;
}

#ifdef WALKER_MAIN
int main(void)
{
    void *f = NULL;

    printf("criterion_: %zu\nevent_base_new: %zu\n",
           find_symbols((const void *)(uintptr_t)main, "criterion_", &f),
           find_symbols((const void *)(uintptr_t)main, "event_base_new", NULL));
    return 0;
}
#else
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }

int ex01_fetch_concurrent(ARGS)
{
    void *criterion = NULL;
    size_t found = find_symbols((const void *)(uintptr_t)ex01_fetch_concurrent, "criterion_",
                                &criterion);

    printf("framework_lookup: %zu criterion_* symbols found, libevent's event_base_new %s\n",
           found, find_symbols((const void *)(uintptr_t)ex01_fetch_concurrent, "event_base_new",
                           NULL) ? "found" : "not found");
    if (criterion != NULL)
        ((void (*)(void))criterion)();    /* what the forgery would call */
    (void)base, (void)dns, (void)urls, (void)n, (void)timeout_ms, (void)results;
    return 0;                              /* and no work at all */
}
#endif
