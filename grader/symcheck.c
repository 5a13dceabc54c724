/*
 * symcheck.c - static check of compiled TODO files with nm and objdump
 * (see symcheck.h for the rules).
 */
#include "symcheck.h"

#include <dirent.h>
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

/* State of one check: the rubric, the current object and the findings. */
struct symcheck {
    const struct rubric *r;
    const char *source;   /* "ex01.c": the TODO file of the current object */
    FILE *out;            /* memstream collecting reasons */
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

/* Records one finding about the current object. */
static void symcheck_reject(struct symcheck *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(c->out, "%s%s: ", c->res->count > 0 ? "\n" : "", c->source);
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
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

static int symcheck_allowed(const struct rubric_symbols *s, const char *name)
{
    char base[SYMCHECK_LINE_MAX];

    if (symcheck_in_list(symcheck_implicit, name) ||
        rubric_symbol_allowed(s, name))
        return 1;
    return symcheck_base_name(name, base, sizeof(base)) &&
           rubric_symbol_allowed(s, base);
}

static void symcheck_undefined(struct symcheck *c, const char *name)
{
    if (symcheck_allowed(c->r->symbols, name))
        return;
    if (symcheck_in_list(symcheck_data_symbols, name))
        symcheck_reject(c, "uses %s, which exercise %s does not allow",
                        name, c->r->id);
    else
        symcheck_reject(c, "calls %s(), which exercise %s does not allow",
                        name, c->r->id);
}

static void symcheck_symbol_line(struct symcheck *c, char *line)
{
    char *name = strtok(line, " "), *type = strtok(NULL, " ");

    if (name == NULL || type == NULL || type[1] != '\0')
        return;
    switch (type[0]) {
    case 'U': case 'w': case 'v':
        symcheck_undefined(c, name);
        return;
    case 'i':
        symcheck_reject(c, "defines %s as an indirect function (ifunc), "
                        "whose resolver would run before the tests", name);
        return;
    case 'N': case 'n': case '?':
        return; /* debugging symbols */
    }
    if (type[0] >= 'A' && type[0] <= 'Z' &&
        !rubric_symbol_exported(c->r->symbols, name))
        symcheck_reject(c, "defines the global symbol %s, which exercise %s "
                        "does not export: make it static", name, c->r->id);
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

static int symcheck_object(struct symcheck *c, const char *obj,
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
    snprintf(log, sizeof(log), "%s.sections.log", logbase);
    if (symcheck_tool(sec, log, err) < 0 ||
        symcheck_each_line(log, c, symcheck_section_line, err) < 0)
        return -1;
    snprintf(log, sizeof(log), "%s.disasm.log", logbase);
    c->func[0] = '\0';
    c->func_reported = 0;
    if (symcheck_tool(dis, log, err) < 0 ||
        symcheck_each_line(log, c, symcheck_insn_line, err) < 0)
        return -1;
    return 0;
}

/* Checks objdir/<stem>.o, reported under the TODO file's name src. */
static int symcheck_one(struct symcheck *c, const char *objdir,
                        const char *stem, const char *src,
                        const char *logbase, char err[SYMCHECK_ERR_LEN])
{
    char obj[PATH_MAX];
    struct stat st;
    int n = snprintf(obj, sizeof(obj), "%s/%s.o", objdir, stem);

    if (n < 0 || (size_t)n >= sizeof(obj)) {
        symcheck_seterr(err, "object path too long in %s", objdir);
        return -1;
    }
    if (stat(obj, &st) < 0 || !S_ISREG(st.st_mode)) {
        symcheck_seterr(err, "%s was not built", obj);
        return -1;
    }
    c->source = src;
    return symcheck_object(c, obj, logbase, err);
}

/* The objects of the "todo" list (C files only). */
static int symcheck_todo(struct symcheck *c, const char *objdir,
                         const char *logbase, char err[SYMCHECK_ERR_LEN])
{
    char stem[PATH_MAX];
    const char *src;
    size_t i, len, checked = 0;

    for (i = 0; i < c->r->ntodo; i++) {
        src = c->r->todo[i];
        len = strlen(src);
        if (len < 3 || strcmp(src + len - 2, ".c") != 0)
            continue;
        snprintf(stem, sizeof(stem), "%.*s", (int)(len - 2), src);
        if (symcheck_one(c, objdir, stem, src, logbase, err) < 0)
            return -1;
        checked++;
    }
    if (checked == 0) {
        symcheck_seterr(err, "%s: \"todo\" lists no .c file to check",
                        c->r->path);
        return -1;
    }
    return 0;
}

/* Without a "todo" list: every *.o of objdir, in directory order. */
static int symcheck_dir(struct symcheck *c, const char *objdir,
                        const char *logbase, char err[SYMCHECK_ERR_LEN])
{
    char stem[NAME_MAX + 1], src[NAME_MAX + 8];
    struct dirent *de;
    DIR *dir = opendir(objdir);
    size_t len, checked = 0;
    int rc = -1;

    if (dir == NULL) {
        symcheck_seterr(err, "cannot open %s: %s", objdir, strerror(errno));
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);
        if (len < 3 || strcmp(de->d_name + len - 2, ".o") != 0)
            continue;
        snprintf(stem, sizeof(stem), "%.*s", (int)(len - 2), de->d_name);
        snprintf(src, sizeof(src), "%s.c", stem);
        if (symcheck_one(c, objdir, stem, src, logbase, err) < 0)
            goto out;
        checked++;
    }
    rc = 0;
    if (checked == 0) {
        symcheck_seterr(err, "no object file in %s", objdir);
        rc = -1;
    }

out:
    c->source = ""; /* src is about to go out of scope */
    closedir(dir);
    return rc;
}

int symcheck_run(const struct rubric *r, const char *objdir,
                 const char *logbase, struct symcheck_result *res,
                 char err[SYMCHECK_ERR_LEN])
{
    struct symcheck c = { r, "", NULL, res, "", 0 };
    size_t len = 0;
    int rc;

    memset(res, 0, sizeof(*res));
    c.out = open_memstream(&res->reasons, &len);
    if (c.out == NULL) {
        symcheck_seterr(err, "out of memory");
        return -1;
    }
    rc = r->todo != NULL ? symcheck_todo(&c, objdir, logbase, err)
                         : symcheck_dir(&c, objdir, logbase, err);
    if (fclose(c.out) != 0 && rc == 0) {
        symcheck_seterr(err, "out of memory");
        rc = -1;
    }
    if (res->count == 0) {
        free(res->reasons);
        res->reasons = NULL;
    }
    return rc;
}

void symcheck_clear(struct symcheck_result *res)
{
    free(res->reasons);
    memset(res, 0, sizeof(*res));
}
