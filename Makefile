# Makefile - every entry point of the workbook.  `make` (or `make help`) lists them.
#
# Two kinds of programs are built here, and they never share a process:
#   the judge    the tests (build/bin/test-exNN, Criterion), the timing drivers
#                (build/bin/bench-exNN), the grader and the delay server: the
#                maintainers' code only, built with -Werror;
#   subjects     programs built from the TODO files (yours, or the reference's)
#                with the given code: the exercise's program (build/bin/ex01,
#                ...) and the subjects the judge starts (build/bin/subject-ex01,
#                build/bin/ex03-server, ...).
# The judge finds the subjects in WB_SUBJECT_DIR (default: its own folder).
#
# Builds are out of tree:
#   build/            your TODO files (from $(SUBMISSION)), and the judge
#   build/ref/        the reference solutions (solutions/, or the prebuilt
#                     objects of a handout's reference/)
#   build/memcheck/   the reference under ASan + UBSan
#   build/o2/         the reference at -O2 (make bench)
#   build/kit/        what the grader links a submission with (it compiles the
#                     TODO files itself: grader/build.c)
# The TODO files are copied into the build folder before they are compiled,
# so they always compile against the trusted headers in skeletons/.

# No built-in rules; keep intermediate files (the staged TODO copies), so that
# an unchanged copy keeps its date and its object is not rebuilt.
MAKEFLAGS += -r
.SECONDARY:
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

SUBMISSION ?= skeletons
SUBBUILD   ?= build
REFBUILD   := build/ref
MEMBUILD   := build/memcheck
# Extra arguments for the test binaries, e.g. make ex01 TESTARGS='--verbose'
TESTARGS   ?=
# One test, as the reports print it: make ex01 TEST=ex01_concurrent::all_requests_in_flight_at_once
TEST       ?=
# V=1 shows the full compiler commands.
V ?=
Q := $(if $(V),,@)

CC := gcc
cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
libs = $(shell pkg-config --libs $(1) 2>/dev/null)

BASE_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g
WARN        := -Wall -Wextra -Wpedantic
STRICT      := $(WARN) -Werror
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# Variants of the code built from TODO files: its compiler flags, and what
# the link adds.  The given code of `cov` is the `test` build's.
VARIANTS        := test bench cov asan
test_VFLAGS     := -O1
bench_VFLAGS    := -O2
cov_VFLAGS      := -O1 --coverage
asan_VFLAGS     := -O1 $(SAN_FLAGS)
test_VLDFLAGS   :=
bench_VLDFLAGS  :=
cov_VLDFLAGS    := --coverage
asan_VLDFLAGS   := -fsanitize=address,undefined
given_variant    = $(if $(filter cov,$(1)),test,$(1))

# ---- exercises --------------------------------------------------------------
# Each exercise describes itself in harness/exNN_name/exercise.mk:
#   EXERCISES += exNN        its short id
#   exNN_DIR      folder name under skeletons/, solutions/, harness/
#   exNN_TODO     the files students edit (in skeletons/exNN_name/)
#   exNN_GIVEN    given sources (in skeletons/exNN_name/), in every program
#   exNN_PROGS    programs built from the TODO files: the exercise's own
#                 program and the subjects the judge starts
#   exNN_SUBJECTS the programs the judge starts (graded, in the grader's kit)
#   P_SRC         for each program P: its other sources (paths from the top)
#   P_TODO        for each program P: the TODO files it links (default all)
#   exNN_TESTS    the judge's Criterion sources; exNN_BENCH the timing driver
#   exNN_JUDGE    extra harness sources of the judge and the timing driver
#   exNN_PKGS     pkg-config packages of the programs
#   exNN_JPKGS    extra pkg-config packages of the judge
# Sources of the subject side shared by every subject.
SUBJECT_IO  := harness/common/subject_io.c harness/common/sandbox.c
# The judge's common sources (the tests add judge.c, their Criterion side).
JUDGE_COMMON := harness/common/subject.c harness/common/sandbox.c \
                harness/common/subject_io.c harness/common/fixture_server.c
EXERCISES :=
include $(sort $(wildcard harness/*/exercise.mk))

ALL_PKGS    := libevent libevent_pthreads jansson sqlite3 libcrypto
PKG_CFLAGS  := $(call cflags,$(ALL_PKGS) criterion)

todo_of  = $(if $($(2)_TODO),$($(2)_TODO),$($(1)_TODO))
# Whether a folder holds prebuilt reference objects (a handout).
REF_OBJ_DIR := reference

# ---- trusted objects --------------------------------------------------------
# build/obj/<variant>/<path>.o: given code, drivers and judge code, -Werror.
define TRUSTED_RULES
build/obj/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  CC      $$< ($(1))")
	$$(Q)$$(CC) $$(BASE_CFLAGS) $$($(1)_VFLAGS) $$(STRICT) -Iharness/common \
	    -Iskeletons/$$(word 2,$$(subst /, ,$$*)) $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@
endef
$(foreach v,test bench asan,$(eval $(call TRUSTED_RULES,$(v))))
# The judge: its own folder, so that nothing of it is ever a subject's.
build/obj/judge/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) -O1 $(STRICT) -Iharness/common \
	    -Iskeletons/$(word 2,$(subst /, ,$*)) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# ---- TODO objects (make ex01, test-ref, memcheck) -------------------------
# $(call TODO_RULES,build-dir,todo-source-root,variant,warn-flags)
define TODO_RULES
# Refreshed on every run, but rewritten only when its content changes: the
# file's date alone would miss a switch to another (older) submission.
$(1)/src/%.c: $(2)/%.c FORCE
	@mkdir -p $$(@D)
	@{ printf '#line 1 "%s"\n' "$$<"; cat "$$<"; } > $$@.tmp
	@if cmp -s $$@.tmp $$@; then rm -f $$@.tmp; else mv -f $$@.tmp $$@; fi

$(1)/obj/todo/$(3)/%.o: $(1)/src/%.c
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  CC      $$(patsubst $(1)/src/%,$(2)/%,$$<)")
	$$(Q)$$(CC) $$(BASE_CFLAGS) $$($(3)_VFLAGS) $(4) -Iskeletons/$$(patsubst %/,%,$$(dir $$*)) \
	    $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@

# A handout's reference: prebuilt objects (only from the workbook's own
# reference/ folder, never from a submission).
ifeq ($(2),$(REF_OBJ_DIR))
$(1)/obj/todo/$(3)/%.o: $(REF_OBJ_DIR)/$(if $(filter cov,$(3)),test,$(3))/%.o
	@mkdir -p $$(@D)
	cp $$< $$@
endif
endef

# A handout has no solutions/: the reference is its prebuilt objects.
REFSRC := $(if $(wildcard solutions),solutions,$(REF_OBJ_DIR))
$(eval $(call TODO_RULES,$(SUBBUILD),$(SUBMISSION),test,$(WARN)))
$(eval $(call TODO_RULES,$(REFBUILD),$(REFSRC),test,$(STRICT)))
$(eval $(call TODO_RULES,$(MEMBUILD),$(REFSRC),asan,$(STRICT)))
# make bench: the reference's programs at -O2 (the bench variant), build/o2/.
O2BUILD := build/o2
$(eval $(call TODO_RULES,$(O2BUILD),$(REFSRC),bench,$(STRICT)))
# Header dependencies of every object above (TODO files included: a change
# in a given header rebuilds them in every build folder).
-include $(shell find build/obj $(SUBBUILD)/obj $(REFBUILD)/obj $(MEMBUILD)/obj $(O2BUILD)/obj \
                 -name '*.d' 2>/dev/null | sort -u)

# ---- programs built from TODO files -----------------------------------------
# $(call PROG_RULE,ex,prog,build-dir,variant)
define PROG_RULE
$(3)/bin/$(2): $(addprefix $(3)/obj/todo/$(4)/$($(1)_DIR)/,$(patsubst %.c,%.o,$(call todo_of,$(1),$(2)))) \
               $(addprefix build/obj/$(call given_variant,$(4))/skeletons/$($(1)_DIR)/,$($(1)_GIVEN:.c=.o)) \
               $(addprefix build/obj/$(call given_variant,$(4))/,$($(2)_SRC:.c=.o))
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$($(4)_VLDFLAGS) $$^ -o $$@ $$(call libs,$($(1)_PKGS))
	@chmod 0755 $$@   # the subjects run as another user when make runs as root
endef
$(foreach e,$(EXERCISES),$(foreach p,$($(e)_PROGS),$(eval $(call PROG_RULE,$(e),$(p),$(SUBBUILD),test))))
$(foreach e,$(EXERCISES),$(foreach p,$($(e)_PROGS),$(eval $(call PROG_RULE,$(e),$(p),$(REFBUILD),test))))
$(foreach e,$(EXERCISES),$(foreach p,$($(e)_PROGS),$(eval $(call PROG_RULE,$(e),$(p),$(MEMBUILD),asan))))
$(foreach e,$(EXERCISES),$(foreach p,$($(e)_PROGS),$(eval $(call PROG_RULE,$(e),$(p),$(O2BUILD),bench))))

# ---- the judge --------------------------------------------------------------
define JUDGE_RULES
build/bin/test-$(1): $(addprefix build/obj/judge/,$($(1)_TESTS:.c=.o) $($(1)_JUDGE:.c=.o) \
                      $(JUDGE_COMMON:.c=.o) harness/common/judge.o)
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$^ -o $$@ $$(call libs,criterion jansson libevent $($(1)_JPKGS))

build/bin/bench-$(1): $(addprefix build/obj/judge/,$($(1)_BENCH:.c=.o) $($(1)_JUDGE:.c=.o) $(JUDGE_COMMON:.c=.o))
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$^ -o $$@ $$(call libs,jansson libevent $($(1)_JPKGS))
endef
$(foreach e,$(EXERCISES),$(eval $(call JUDGE_RULES,$(e))))

# ---- the grader's kit -------------------------------------------------------
# What the grader compiles and links a submission with (grader/kit.h): one
# argument per line, paths relative to the top folder.
#   build/kit/<exdir>.cflags               preprocessor and compiler flags
#   build/kit/<variant>.vflags             what the variant adds
#   build/kit/<variant>/<exdir>/<prog>.link  its TODO files, trusted objects, libs
define KIT_RULES
build/kit/$($(1)_DIR).cflags: Makefile $(wildcard harness/$($(1)_DIR)/exercise.mk)
	@mkdir -p $$(@D)
	@printf '%s\n' $$(BASE_CFLAGS) -Iskeletons/$($(1)_DIR) $$(call cflags,$$(ALL_PKGS)) > $$@
endef
# $(call KIT_LINK,ex,prog,variant)
define KIT_LINK
build/kit/$(3)/$($(1)_DIR)/$(2).link: $(addprefix build/obj/$(call given_variant,$(3))/skeletons/$($(1)_DIR)/,$($(1)_GIVEN:.c=.o)) \
                          $(addprefix build/obj/$(call given_variant,$(3))/,$($(2)_SRC:.c=.o)) Makefile
	@mkdir -p $$(@D)
	@{ printf 'todo:%s\n' $(call todo_of,$(1),$(2)); \
	   printf '%s\n' $$(filter %.o,$$^) $$($(3)_VLDFLAGS) $$(call libs,$($(1)_PKGS)); } > $$@
endef
build/kit/%.vflags: Makefile
	@mkdir -p $(@D)
	@printf '%s\n' $($*_VFLAGS) > $@
$(foreach e,$(EXERCISES),$(eval $(call KIT_RULES,$(e))))
$(foreach e,$(EXERCISES),$(foreach p,$($(e)_SUBJECTS),$(foreach v,$(VARIANTS),$(eval $(call KIT_LINK,$(e),$(p),$(v))))))
KITS := $(foreach v,$(VARIANTS),build/kit/$(v).vflags) \
        $(foreach e,$(EXERCISES),build/kit/$($(e)_DIR).cflags \
          $(foreach p,$($(e)_SUBJECTS),$(foreach v,$(VARIANTS),build/kit/$(v)/$($(e)_DIR)/$(p).link)))

# Tools that do not depend on a submission.
build/bin/delay-server: harness/common/delay_server_main.c harness/common/fixture_server.c harness/common/fixture_server.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC LD   $@")
	$(Q)$(CC) $(BASE_CFLAGS) -O1 $(STRICT) -Iharness/common $(PKG_CFLAGS) $(filter %.c,$^) -o $@ $(call libs,libevent)

GRADER_SRC := $(wildcard grader/*.c)
build/bin/grader: $(GRADER_SRC) $(wildcard grader/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC LD   $@")
	$(Q)$(CC) $(BASE_CFLAGS) -O1 $(STRICT) $(PKG_CFLAGS) $(GRADER_SRC) -o $@ $(call libs,jansson libcrypto)

FORCE:

# ---- entry points -----------------------------------------------------------
JUDGES      := $(foreach e,$(EXERCISES),build/bin/test-$(e) build/bin/bench-$(e))
SUB_PROGS   := $(foreach e,$(EXERCISES),$(addprefix $(SUBBUILD)/bin/,$($(e)_PROGS)))
REF_PROGS   := $(foreach e,$(EXERCISES),$(addprefix $(REFBUILD)/bin/,$($(e)_PROGS)))
MEM_PROGS   := $(foreach e,$(EXERCISES),$(addprefix $(MEMBUILD)/bin/,$($(e)_SUBJECTS)))
TOOLS       := build/bin/delay-server build/bin/grader

.PHONY: FORCE all help deps grade check bench $(EXERCISES) memcheck clean test-ref ref-all \
        repeat coverage fuzz manifest handout print-exercises grader-selftest judges kits \
        trusted print-trusted print-dir print-todo print-progs mutants watch demo gradescope test-browser deps-maintainer

all: deps $(SUB_PROGS) $(JUDGES) $(TOOLS)

help:
	@echo "Students:"
	@echo "  make grade        score your work (skeletons/): one line per test, then Score: x/y"
	@echo "  make ex01         build exercise 1 (your code, its programs, its tests) and run the tests"
	@echo "                    one test: make ex01 TEST=ex01_concurrent::all_requests_in_flight_at_once"
	@echo "  make watch EX=ex01  rerun exercise 1's tests each time you save a TODO file"
	@echo "  make demo EX=ex04   run the reference's program of an exercise (see the goal first)"
	@echo "Maintainers:"
	@echo "  make check        the workbook's own tests (CI)"
	@echo "  make test-ref     the tests against the solutions"
	@echo "  make memcheck     the tests against the solutions under ASan + UBSan + LSan"
	@echo "  make mutants      grade each exercise's mutants (MUTANTS_ARGS='--exercise ex01')"
	@echo "  make repeat N=10  the solutions' tests N times in a row (flakiness)"
	@echo "  make coverage     line/branch coverage of the solutions by the tests (HTML in build/coverage/)"
	@echo "  make test-browser the chat page in headless Chromium"
	@echo "  make grader-selftest  the grader's own tests"
	@echo "  make fuzz         fuzz exercise 4's frame decoder for FUZZ_SECONDS (default 60)"
	@echo "  make bench        C against the Python originals (and Node ws), tables in build/bench/"
	@echo "  make manifest     rewrite grader/manifest.sha256 (after editing a non-TODO file)"
	@echo "  make handout      a student repository without solution sources, in build/handout/"
	@echo "  make gradescope   an autograder for Gradescope: build/gradescope/autograder.zip"
	@echo "  make clean        remove build/"
	@echo "Options: SUBMISSION=dir (default skeletons), EX=ex01 (grade one exercise), TEST=suite::test"

deps:
	@scripts/ensure-deps.sh

# What the grader builds before it grades (it compiles the TODO files itself).
trusted: $(JUDGES) $(KITS)
judges: $(JUDGES)
kits: $(KITS)
print-trusted:
	@echo $(JUDGES) $(KITS)

EX ?=
GRADE_REFERENCE := $(if $(wildcard solutions),,--reference $(REF_OBJ_DIR))
grade: deps build/bin/grader
	@build/bin/grader --root . --submission $(SUBMISSION) --out build/grade \
	    $(GRADE_REFERENCE) $(if $(EX),--exercise $(EX))

# Run one exercise's tests against the student's code, readable output.
# TEST=suite::test (as the reports print it) or TEST=suite runs part of them.
define EX_TARGET
$(1): deps $(addprefix $(SUBBUILD)/bin/,$($(1)_PROGS)) $(addprefix $(REFBUILD)/bin/,$($(1)_PROGS)) \
     build/bin/test-$(1)
	@scripts/run-tests.sh $(1) $(SUBBUILD)/bin '$$(TEST)' $$(TESTARGS)
endef
$(foreach e,$(EXERCISES),$(eval $(call EX_TARGET,$(e))))

memcheck: deps $(MEM_PROGS) $(REF_PROGS) $(JUDGES)
	@set -e; ran=0; for e in $(EXERCISES); do \
	    case '$(TEST)' in ''|$${e}_*) ;; *) continue ;; esac; \
	    ran=1; \
	    echo "== memcheck $$e (reference, ASan + UBSan) =="; \
	    WB_REF_SUBJECT_DIR=$(REFBUILD)/bin WB_SUBJECT_SANITIZER=1 \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23:suppressions=$(CURDIR)/harness/common/lsan.supp \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/harness/common/lsan.supp \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=23 \
	    scripts/run-tests.sh $$e $(MEMBUILD)/bin '$(TEST)' $(TESTARGS); \
	done; \
	if [ $$ran = 0 ]; then echo "TEST=$(TEST) names no test of $(EXERCISES): a name looks like ex01_args::sequential_refuses_invalid_arguments" >&2; exit 2; fi

# Everything built from the reference solutions.
ref-all: $(REF_PROGS)

# The harness against the reference solutions (must all pass).
test-ref: deps $(REF_PROGS) $(JUDGES)
	@set -e; ran=0; for e in $(EXERCISES); do \
	    case '$(TEST)' in ''|$${e}_*) ;; *) continue ;; esac; \
	    ran=1; \
	    echo "== $$e against the reference =="; \
	    scripts/run-tests.sh $$e $(REFBUILD)/bin '$(TEST)' $(TESTARGS); \
	done; \
	if [ $$ran = 0 ]; then echo "TEST=$(TEST) names no test of $(EXERCISES): a name looks like ex01_args::sequential_refuses_invalid_arguments" >&2; exit 2; fi

# Line and branch coverage of the TODO files by the tests, as HTML (per
# file) and a JSON summary under build/coverage/<name>/: of the reference by
# default, of SUBMISSION when it is given.
ifeq ($(filter command line environment,$(origin SUBMISSION)),)
COVNAME := reference
COVSRC  := $(REFSRC)
else
COVNAME := submission
COVSRC  := $(SUBMISSION)
endif
COVBUILD := build/coverage/$(COVNAME)-build
COVOUT   := build/coverage/$(COVNAME)
$(eval $(call TODO_RULES,$(COVBUILD),$(COVSRC),cov,$(WARN)))
$(foreach e,$(EXERCISES),$(foreach p,$($(e)_SUBJECTS),$(eval $(call PROG_RULE,$(e),$(p),$(COVBUILD),cov))))
coverage: deps $(JUDGES) $(REF_PROGS) $(foreach e,$(EXERCISES),$(addprefix $(COVBUILD)/bin/,$($(e)_SUBJECTS)))
	@rm -rf $(COVBUILD)/gcda && mkdir -p $(COVBUILD)/gcda && chmod 0777 $(COVBUILD)/gcda
	@find $(COVBUILD) -name '*.gcda' -delete
	@for e in $(EXERCISES); do WB_SUBJECT_DIR=$(COVBUILD)/bin WB_REF_SUBJECT_DIR=$(REFBUILD)/bin \
	    WB_COVERAGE_DIR=$(CURDIR)/$(COVBUILD)/gcda \
	    build/bin/test-$$e -j1 >$(COVBUILD)/test-$$e.log 2>&1 || \
	    echo "coverage: some $$e tests failed (see $(COVBUILD)/test-$$e.log)"; done
	@cd $(COVBUILD)/gcda && find . -name '*.gcda' | while read -r f; do cp "$$f" "/$${f#./}"; done
	@mkdir -p $(COVOUT)
	@gcovr --root . --object-directory $(COVBUILD) \
	    --filter '$(COVSRC)/' \
	    --html-details $(COVOUT)/index.html --json-summary-pretty \
	    --json-summary $(COVOUT)/summary.json --print-summary
	@echo "coverage: open $(COVOUT)/index.html"

# Fuzzes exercise 4's frame decoder (libFuzzer + ASan + UBSan, clang) for
# FUZZ_SECONDS, starting from the corpus kept in harness/ex04_websocket/.
FUZZ_SECONDS ?= 60
fuzz: deps
	@harness/ex04_websocket/fuzz.sh $(FUZZ_SECONDS)

# The hashes of the files students must not edit (grader/manifest.sha256):
# rewrite it after changing any of them; make check fails while it is stale.
manifest: build/bin/grader
	@build/bin/grader --root . --write-manifest

# Grades each exercise's mutants (harness/exNN_name/mutants: the reference
# broken in one plausible way each) and fails when one survives or a rubric
# test catches none.  MUTANTS_ARGS='--exercise ex01 --quick 3' narrows it.
MUTANTS_ARGS ?=
mutants: deps build/bin/grader
	@/usr/bin/python3 scripts/mutants.py $(MUTANTS_ARGS)

grader-selftest: build/bin/grader
	@grader/tests/run-selftest.sh $(abspath build/bin/grader)

# The chat page in a real browser (headless Chromium): make check runs it.
test-browser: deps-maintainer build/ref/bin/ex04-server
	@scripts/test-browser.sh

deps-maintainer:
	@scripts/ensure-deps.sh --maintainer

check: deps-maintainer
	@if [ ! -d solutions ]; then echo "make check tests the workbook itself and needs" \
	    "solutions/, which a student handout does not have: use make grade"; exit 2; fi
	@scripts/check.sh

# The reference side by side with the Python originals (and Node's ws): one
# table per exercise, and build/bench/results.{json,md} (docs/en/benchmarks.md).
bench: deps
	@if [ ! -d solutions ] || [ ! -d harness/peers ]; then echo "make bench compares the" \
	    "reference solutions with the Python originals, which a student handout does not have"; exit 2; fi
	@scripts/bench.sh

# An autograder for Gradescope: build/gradescope/autograder.zip.
gradescope: deps
	@scripts/make-gradescope.sh

# A student repository, without solution sources, in build/handout/.
handout: deps
	@scripts/make-handout.sh build/handout

print-exercises:
	@echo $(EXERCISES)
# For scripts: make print-dir EXERCISE=ex01, make print-todo EXERCISE=ex01.
print-dir:
	@echo $($(EXERCISE)_DIR)
print-todo:
	@echo $($(EXERCISE)_TODO)
print-progs:
	@echo $($(EXERCISE)_PROGS)

# Reruns one exercise's tests each time a TODO file is saved.
watch: deps
	@scripts/watch.sh '$(EX)' '$(SUBMISSION)'

# Runs the reference's program of an exercise, so that you see the goal first.
demo: deps
	@scripts/demo.sh '$(EX)'

clean:
	rm -rf build

# Runs the reference's tests N times in a row; stops at the first failure.
N ?= 10
repeat: $(REF_PROGS) $(JUDGES)
	@set -e; for i in $$(seq $(N)); do \
	    for e in $(EXERCISES); do \
	        WB_SUBJECT_DIR=$(REFBUILD)/bin WB_REF_SUBJECT_DIR=$(REFBUILD)/bin \
	            build/bin/test-$$e -j1 $(TESTARGS) >build/repeat.log 2>&1 \
	            || { cat build/repeat.log; echo "run $$i: $$e FAILED"; exit 1; }; \
	    done; echo "run $$i: ok"; \
	done
