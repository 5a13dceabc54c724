/*
 * symcheck.c - static check of compiled TODO files with nm and objdump
 * (see symcheck.h for the rules).
 */
#include "symcheck.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runner.h"

#define SYMCHECK_LINE_MAX 512

/* Environment of the tools: untranslated, stable output. */
static const char *const symcheck_env[] = { "LC_ALL=C", NULL };

/* Undefined symbols that are data, not functions ("uses", not "calls"). */
static const char *const symcheck_data_symbols[] = {
    "environ", "__environ", "stdin", "stdout", "stderr", "optarg", "optind",
    "program_invocation_name", "_GLOBAL_OFFSET_TABLE_", NULL
};

/* Symbols the compiler emits by itself, allowed whatever the rubric says. */
static const char *const symcheck_implicit[] = {
    "__stack_chk_fail", "__stack_chk_fail_local", "__stack_chk_guard",
    "__errno_location", "__ctype_b_loc", "__ctype_tolower_loc",
    "__ctype_toupper_loc", NULL
};

/* Sections whose code runs before main or after exit. */
static const char *const symcheck_bad_sections[] = {
    ".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors",
    ".init", ".fini", NULL
};

/* Runtime symbols a variant's compiler flags add, by prefix. */
static const char *const symcheck_cov_prefixes[] = { "__gcov_", NULL };
static const char *const symcheck_asan_prefixes[] = {
    "__asan_", "__ubsan_", "__sanitizer_", "__lsan_", NULL
};

/* State of one check: the rubric, the current object and the findings. */
struct symcheck {
    const struct rubric *r;
    const struct apiset *api;
    const char *variant;  /* "test", "bench", "cov", "asan" */
    const char *source;   /* "ex01.c": the TODO file of the current object */
    struct symcheck_result *res;
    char func[SYMCHECK_LINE_MAX]; /* function being disassembled */
    int func_reported;    /* a system call in func was already reported */
};

static void symcheck_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, SYMCHECK_ERR_LEN, fmt, ap);
    va_end(ap);
}

/* Records one finding about the current object (once per text: the
 * variants of one file find the same things). */
static void symcheck_reject(struct symcheck *c, const char *fmt, ...)
{
    char line[SYMCHECK_LINE_MAX * 2];
    size_t n, old;
    char *grown;
    va_list ap;

    n = (size_t)snprintf(line, sizeof(line), "%s: ", c->source);
    va_start(ap, fmt);
    if (n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (c->res->reasons != NULL) {
        const char *p = c->res->reasons;
        size_t len = strlen(line);
        while ((p = strstr(p, line)) != NULL) {
            if ((p == c->res->reasons || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
                return;
            p += len;
        }
    }
    old = c->res->reasons ? strlen(c->res->reasons) : 0;
    n = strlen(line);
    grown = realloc(c->res->reasons, old + n + 2);
    if (grown == NULL)
        return;   /* out of memory: the count still rejects */
    if (old > 0)
        grown[old++] = '\n';
    memcpy(grown + old, line, n + 1);
    c->res->reasons = grown;
    c->res->count++;
}

static int symcheck_in_list(const char *const *list, const char *name)
{
    size_t i;

    for (i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Running the tools                                                   */
/* ------------------------------------------------------------------ */

/*
 * Runs tool (argv, whose argv[2] is the object) with its output into log;
 * fails unless it exits 0.
 */
static int symcheck_tool(const char *const *argv, const char *log,
                         char err[SYMCHECK_ERR_LEN])
{
    struct runner_spec spec = { argv, NULL, log, SYMCHECK_TIMEOUT_S, 0, 0,
                                NULL, symcheck_env, 0, NULL };
    struct runner_result res;
    char rerr[RUNNER_ERR_LEN];

    if (runner_run(&spec, &res, rerr) < 0) {
        symcheck_seterr(err, "%s", rerr);
        return -1;
    }
    if (res.outcome != RUNNER_EXITED || res.status != 0) {
        symcheck_seterr(err, "%s failed on %s (see %s)", argv[0], argv[2],
                        log);
        return -1;
    }
    return 0;
}

/* Calls line_fn on each line of the file (without its '\n'). */
static int symcheck_each_line(const char *path, struct symcheck *c,
                              void (*line_fn)(struct symcheck *, char *),
                              char err[SYMCHECK_ERR_LEN])
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        symcheck_seterr(err, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        line_fn(c, line);
    }
    free(line);
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Symbols (nm -P: "name type [value size]")                           */
/* ------------------------------------------------------------------ */

/* Strips a known compiler prefix or suffix: __snprintf_chk -> snprintf. */
static int symcheck_base_name(const char *name, char *base, size_t len)
{
    size_t n = strlen(name);

    if (strncmp(name, "__isoc99_", 9) == 0 ||
        strncmp(name, "__isoc23_", 9) == 0) {
        snprintf(base, len, "%s", name + 9);
        return 1;
    }
    if (n > 6 && strncmp(name, "__", 2) == 0 &&
        strcmp(name + n - 4, "_chk") == 0) {
        snprintf(base, len, "%.*s", (int)(n - 6), name + 2);
        return 1;
    }
    return 0;
}

static int symcheck_has_prefix(const char *const *prefixes, const char *name)
{
    for (size_t i = 0; prefixes[i] != NULL; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

/* Allowed: listed in full, or matched by a wildcard and declared by a
 * public header (apiset.h). */
static int symcheck_allowed_name(const struct symcheck *c, const char *name)
{
    const struct rubric_symbols *s = c->r->symbols;

    if (rubric_symbol_listed(s, name))
        return 1;
    return rubric_symbol_allowed(s, name) && (c->api == NULL || apiset_has(c->api, name));
}

static int symcheck_allowed(const struct symcheck *c, const char *name)
{
    char base[SYMCHECK_LINE_MAX];

    if (symcheck_in_list(symcheck_implicit, name) || symcheck_allowed_name(c, name))
        return 1;
    if (strcmp(c->variant, "cov") == 0 && symcheck_has_prefix(symcheck_cov_prefixes, name))
        return 1;
    if (strcmp(c->variant, "asan") == 0 && symcheck_has_prefix(symcheck_asan_prefixes, name))
        return 1;
    return symcheck_base_name(name, base, sizeof(base)) && symcheck_allowed_name(c, base);
}

static void symcheck_undefined(struct symcheck *c, const char *name)
{
    if (symcheck_allowed(c, name))
        return;
    if (rubric_symbol_allowed(c->r->symbols, name) && c->api != NULL &&
        !apiset_has(c->api, name)) {
        symcheck_reject(c, "calls %s(), which no public header declares (an internal "
                        "function of a library), so exercise %s does not allow it", name,
                        c->r->id);
        return;
    }
    if (symcheck_in_list(symcheck_data_symbols, name))
        symcheck_reject(c, "uses %s, which exercise %s does not allow",
                        name, c->r->id);
    else
        symcheck_reject(c, "calls %s(), which exercise %s does not allow",
                        name, c->r->id);
}

/*
 * One line of nm -P.  Kinds: U, w, v are undefined references (strong,
 * weak, weak object); lowercase letters other than those are local; every
 * other kind is a global definition: T (function), D B R G S (data),
 * W V (weak), C (common), u (GNU unique), i I (indirect).
 */
static void symcheck_symbol_line(struct symcheck *c, char *line)
{
    char *name = strtok(line, " "), *type = strtok(NULL, " ");
    char k;

    if (name == NULL || type == NULL || type[1] != '\0')
        return;
    k = type[0];
    switch (k) {
    case 'U': case 'w': case 'v':
        symcheck_undefined(c, name);
        return;
    case 'i': case 'I':
        symcheck_reject(c, "defines %s as an indirect function (ifunc), "
                        "whose resolver would run before the tests", name);
        return;
    case 'u':
        symcheck_reject(c, "defines %s as a GNU unique symbol, which would replace the "
                        "program's own: make it static", name);
        return;
    case 'N': case 'n': case '?':
        return; /* debugging symbols */
    }
    if (k >= 'a' && k <= 'z')
        return; /* local: static functions and data */
    if (!rubric_symbol_exported(c->r->symbols, name))
        symcheck_reject(c, "defines the global symbol %s, which exercise %s "
                        "does not export: make it static", name, c->r->id);
    else if (k != 'T')
        symcheck_reject(c, "defines %s, which exercise %s exports as a function, as a "
                        "%s symbol (nm kind %c): define it as a plain function", name,
                        c->r->id, k == 'W' || k == 'V' ? "weak" : k == 'C' ? "common"
                        : "data", k);
}

/* ------------------------------------------------------------------ */
/* Sections (objdump -h -w: "Idx Name Size VMA LMA File-off Algn ...")  */
/* ------------------------------------------------------------------ */

static int symcheck_bad_section(const char *name)
{
    size_t i, len;

    for (i = 0; symcheck_bad_sections[i] != NULL; i++) {
        len = strlen(symcheck_bad_sections[i]);
        if (strncmp(name, symcheck_bad_sections[i], len) == 0 &&
            (name[len] == '\0' || name[len] == '.'))
            return 1;
    }
    return 0;
}

static void symcheck_section_line(struct symcheck *c, char *line)
{
    char *idx = strtok(line, " \t"), *name = strtok(NULL, " \t");
    char *end = NULL;

    if (idx == NULL || name == NULL)
        return;
    strtol(idx, &end, 10);
    if (end == idx || *end != '\0')
        return; /* not a section line */
    if (symcheck_bad_section(name))
        symcheck_reject(c, "has a constructor or destructor (section %s): "
                        "no code may run outside the tests", name);
}

/* ------------------------------------------------------------------ */
/* Instructions (objdump -d --no-show-raw-insn)                        */
/* ------------------------------------------------------------------ */

/*
 * Is the instruction text ins ("syscall", "int    $0x80", "svc\t#0x0") a
 * system call (x86-64, i386, aarch64)?
 */
static int symcheck_is_syscall(const char *ins)
{
    char op[16] = "", arg[32] = "";

    if (sscanf(ins, "%15s %31s", op, arg) < 1)
        return 0;
    if (strcmp(op, "syscall") == 0 || strcmp(op, "sysenter") == 0 ||
        strcmp(op, "svc") == 0)
        return 1;
    return strcmp(op, "int") == 0 && strcmp(arg, "$0x80") == 0;
}

static void symcheck_insn_line(struct symcheck *c, char *line)
{
    char *lt = strchr(line, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char *tab;

    if (lt != NULL && gt != NULL && gt[1] == ':' && line[0] != ' ') {
        snprintf(c->func, sizeof(c->func), "%.*s", (int)(gt - lt - 1),
                 lt + 1);
        c->func_reported = 0;
        return;
    }
    tab = strchr(line, '\t');
    if (line[0] != ' ' || tab == NULL || tab == line || tab[-1] != ':' ||
        !symcheck_is_syscall(tab + 1) || c->func_reported)
        return;
    c->func_reported = 1;
    symcheck_reject(c, "makes a system call itself (%s in %s): use the "
                    "library functions the exercise allows", tab + 1,
                    c->func[0] != '\0' ? c->func : "?");
}

/* ------------------------------------------------------------------ */
/* One object                                                          */
/* ------------------------------------------------------------------ */

static int symcheck_tools(struct symcheck *c, const char *obj,
                          const char *logbase, char err[SYMCHECK_ERR_LEN])
{
    char log[PATH_MAX];
    const char *nm[] = { "nm", "-P", obj, NULL };
    const char *sec[] = { "objdump", "-h", obj, "-w", NULL };
    const char *dis[] = { "objdump", "-d", obj, "--no-show-raw-insn", NULL };

    snprintf(log, sizeof(log), "%s.nm.log", logbase);
    if (symcheck_tool(nm, log, err) < 0 ||
        symcheck_each_line(log, c, symcheck_symbol_line, err) < 0)
        return -1;
    /* --coverage and the sanitizers add constructors of their own
     * (__gcov_init, asan.module_ctor).  Those variants compile the very
     * text the test and bench variants compile, where a constructor of the
     * student's is found: their sections are not checked. */
    snprintf(log, sizeof(log), "%s.sections.log", logbase);
    if (strcmp(c->variant, "cov") != 0 && strcmp(c->variant, "asan") != 0 &&
        (symcheck_tool(sec, log, err) < 0 ||
         symcheck_each_line(log, c, symcheck_section_line, err) < 0))
        return -1;
    snprintf(log, sizeof(log), "%s.disasm.log", logbase);
    c->func[0] = '\0';
    c->func_reported = 0;
    if (symcheck_tool(dis, log, err) < 0 ||
        symcheck_each_line(log, c, symcheck_insn_line, err) < 0)
        return -1;
    return 0;
}

int symcheck_object(const struct rubric *r, const struct apiset *api, const char *obj,
                    const char *src_name, const char *variant, const char *logbase,
                    struct symcheck_result *res, char err[SYMCHECK_ERR_LEN])
{
    struct symcheck c = { r, api, variant, src_name, res, "", 0 };
    struct stat st;

    if (stat(obj, &st) < 0 || !S_ISREG(st.st_mode)) {
        symcheck_seterr(err, "%s was not built", obj);
        return -1;
    }
    return symcheck_tools(&c, obj, logbase, err);
}

void symcheck_clear(struct symcheck_result *res)
{
    free(res->reasons);
    memset(res, 0, sizeof(*res));
}
