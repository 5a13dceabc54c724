# Makefile - every entry point of the workbook.  `make help` lists them.
#
# Builds are out of tree.  Three builds of the same sources exist:
#   $(SUBBUILD) (build/)       the student's TODO files, taken from $(SUBMISSION)
#   build/ref/                 the reference solutions (solutions/)
#   build/memcheck/            the reference under ASan + UBSan
# The TODO files are copied into the build folder before they are compiled,
# so they always compile against the trusted headers in skeletons/, never
# against a copy that sits beside them.

# No built-in rules; keep intermediate files (the staged TODO copies), so that
# an unchanged copy keeps its date and its object is not rebuilt.
MAKEFLAGS += -r
.SECONDARY:

SUBMISSION ?= skeletons
SUBBUILD   ?= build
REFBUILD   := build/ref
MEMBUILD   := build/memcheck
# Extra arguments for the test binaries, e.g. make ex01 TESTARGS='--filter ex01_sequential/*'
TESTARGS   ?=
# V=1 shows the full compiler commands.
V ?=
Q := $(if $(V),,@)

CC      := gcc
PKGS    := libevent criterion jansson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
libs = $(shell pkg-config --libs $(1) 2>/dev/null)

BASE_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
               -Iharness/common
WARN        := -Wall -Wextra -Wpedantic
STRICT      := $(WARN) -Werror
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer -O1

# ---- exercises --------------------------------------------------------------
# Each exercise describes itself in harness/exNN_name/exercise.mk:
#   EXERCISES += exNN        its short id
#   exNN_DIR    folder name under skeletons/, solutions/, harness/
#   exNN_TODO   the files students edit (in skeletons/exNN_name/)
#   exNN_GIVEN  given sources (in skeletons/exNN_name/), linked everywhere
#   exNN_MAIN   the program's main (in skeletons/exNN_name/), built as
#               $(SUBBUILD)/bin/$(exNN_PROG) (exNN_PROG defaults to exNN)
#   exNN_TESTS  Criterion test sources; exNN_BENCH the benchmark driver
#   exNN_COMMON extra harness sources for the tests and the benchmark
#   exNN_PKGS   pkg-config packages to link with
EXERCISES :=
include $(sort $(wildcard harness/*/exercise.mk))
$(foreach e,$(EXERCISES),$(eval $(e)_PROG ?= $(e)))

COMMON_SRC := harness/common/fixture_server.c harness/common/sandbox.c

# ---- build rules, one set per build ----------------------------------------
# $(call BUILD_RULES,build-dir,todo-source-root,todo-flags,extra-flags)
define BUILD_RULES
# Refreshed on every run, but rewritten only when its content changes: the
# file's date alone would miss a switch to another (older) submission.
$(1)/src/%.c: $(2)/%.c FORCE
	@mkdir -p $$(@D)
	@{ printf '#line 1 "%s"\n' "$$<"; cat "$$<"; } > $$@.tmp
	@if cmp -s $$@.tmp $$@; then rm -f $$@.tmp; else mv -f $$@.tmp $$@; fi

$(1)/obj/todo/%.o: $(1)/src/%.c
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  CC      $$(patsubst $(1)/src/%,$(2)/%,$$<)")
	$$(Q)$$(CC) $$(BASE_CFLAGS) $(4) $(3) -Iskeletons/$$(patsubst %/,%,$$(dir $$*)) $$(PKG_CFLAGS) \
	    -MMD -MF $$(@:.o=.d) -c $$< -o $$@

# A reference may come as prebuilt objects (a handout ships them): copy them.
$(1)/obj/todo/%.o: $(2)/%.o
	@mkdir -p $$(@D)
	cp $$< $$@

$(1)/obj/given/%.o: %.c
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  CC      $$<")
	$$(Q)$$(CC) $$(BASE_CFLAGS) $(4) $$(STRICT) -Iskeletons/$$(notdir $$(patsubst %/,%,$$(dir $$*))) $$(PKG_CFLAGS) -c $$< -o $$@
endef

# $(call EXERCISE_RULES,ex,build-dir,extra-ldflags)
define EXERCISE_RULES
$(2)/bin/test-$(1): $(addprefix $(2)/obj/todo/$($(1)_DIR)/,$($(1)_TODO:.c=.o)) \
                    $(addprefix $(2)/obj/given/skeletons/$($(1)_DIR)/,$($(1)_GIVEN:.c=.o)) \
                    $(addprefix $(2)/obj/given/,$($(1)_TESTS:.c=.o) $($(1)_COMMON:.c=.o) $(COMMON_SRC:.c=.o))
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $(3) $$^ -o $$@ $$(call libs,criterion $($(1)_PKGS))

$(2)/bin/bench-$(1): $(addprefix $(2)/obj/todo/$($(1)_DIR)/,$($(1)_TODO:.c=.o)) \
                     $(addprefix $(2)/obj/given/skeletons/$($(1)_DIR)/,$($(1)_GIVEN:.c=.o)) \
                     $(addprefix $(2)/obj/given/,$($(1)_BENCH:.c=.o) $($(1)_COMMON:.c=.o) $(COMMON_SRC:.c=.o))
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $(3) $$^ -o $$@ $$(call libs,$($(1)_PKGS))

$(2)/bin/$($(1)_PROG): $(addprefix $(2)/obj/todo/$($(1)_DIR)/,$($(1)_TODO:.c=.o)) \
               $(addprefix $(2)/obj/given/skeletons/$($(1)_DIR)/,$($(1)_GIVEN:.c=.o) $($(1)_MAIN:.c=.o)) \
               $(addprefix $(2)/obj/given/,$(COMMON_SRC:.c=.o))
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $(3) $$^ -o $$@ $$(call libs,$($(1)_PKGS))
endef

$(eval $(call BUILD_RULES,$(SUBBUILD),$(SUBMISSION),$(WARN),))
$(eval $(call BUILD_RULES,$(REFBUILD),solutions,$(STRICT),))
$(eval $(call BUILD_RULES,$(MEMBUILD),solutions,$(STRICT),$(SAN_FLAGS)))
# Benchmarks are timed at -O2 without sanitizers, for submission and reference alike.
$(eval $(call BUILD_RULES,$(SUBBUILD)/o2,$(SUBMISSION),$(WARN),-O2))
# The grader's coverage run: the TODO files alone instrumented (gcov).
$(eval $(call BUILD_RULES,$(SUBBUILD)/cov,$(SUBMISSION),$(WARN) --coverage,-O0))
$(foreach e,$(EXERCISES),$(eval $(call EXERCISE_RULES,$(e),$(SUBBUILD),)))
$(foreach e,$(EXERCISES),$(eval $(call EXERCISE_RULES,$(e),$(REFBUILD),)))
$(foreach e,$(EXERCISES),$(eval $(call EXERCISE_RULES,$(e),$(MEMBUILD),$(SAN_FLAGS))))
$(foreach e,$(EXERCISES),$(eval $(call EXERCISE_RULES,$(e),$(SUBBUILD)/o2,)))
$(foreach e,$(EXERCISES),$(eval $(call EXERCISE_RULES,$(e),$(SUBBUILD)/cov,--coverage)))

# Coverage: of the reference by default, of SUBMISSION when it is given.
ifeq ($(filter command line environment,$(origin SUBMISSION)),)
COVNAME := reference
COVSRC  := solutions
else
COVNAME := submission
COVSRC  := $(SUBMISSION)
endif
COVBUILD := build/coverage/$(COVNAME)-build
COVOUT   := build/coverage/$(COVNAME)
$(eval $(call BUILD_RULES,$(COVBUILD),$(COVSRC),$(WARN),-O0 --coverage))
$(foreach e,$(EXERCISES),$(eval $(call EXERCISE_RULES,$(e),$(COVBUILD),--coverage)))

# Tools that do not depend on a submission.
build/bin/delay-server: harness/common/delay_server_main.c $(COMMON_SRC) harness/common/fixture_server.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC LD   $@")
	$(Q)$(CC) $(BASE_CFLAGS) $(STRICT) $(PKG_CFLAGS) $(filter %.c,$^) -o $@ $(call libs,libevent)

GRADER_SRC := $(wildcard grader/*.c)
build/bin/grader: $(GRADER_SRC) $(wildcard grader/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC LD   $@")
	$(Q)$(CC) $(BASE_CFLAGS) $(STRICT) $(PKG_CFLAGS) $(GRADER_SRC) -o $@ $(call libs,jansson libcrypto)

FORCE:

# ---- entry points -----------------------------------------------------------
.PHONY: FORCE all help deps grade check bench $(EXERCISES) $(addprefix tests-,$(EXERCISES)) \
        $(addprefix bench-,$(EXERCISES)) $(addprefix cov-,$(EXERCISES)) memcheck clean test-ref ref-all repeat coverage fuzz manifest handout print-exercises \
        grader-selftest

all: deps $(foreach e,$(EXERCISES),$(SUBBUILD)/bin/test-$(e) $(SUBBUILD)/bin/$($(e)_PROG)) \
     build/bin/delay-server build/bin/grader

help:
	@echo "make grade        score your work (skeletons/): one line per test, then Score: x/y"
	@echo "make ex01         build and run exercise 1's tests against your code"
	@echo "make check        the workbook's own tests (maintainers, CI)"
	@echo "make memcheck     the tests against the solutions under ASan + UBSan"
	@echo "make test-ref     the tests against the solutions"
	@echo "make repeat N=10  the solutions' tests N times in a row (flakiness)"
	@echo "make coverage     line/branch coverage of the solutions by the tests (HTML in build/coverage/)"
	@echo "make fuzz         fuzz exercise 4's frame decoder for FUZZ_SECONDS (default 60)"
	@echo "make bench        C against the Python originals (and Node ws), tables in build/bench/"
	@echo "make manifest     rewrite grader/manifest.sha256 (after editing a non-TODO file)"
	@echo "make handout      a student repository without solution sources, in build/handout/"
	@echo "make clean        remove build/"
	@echo "Options: SUBMISSION=dir (default skeletons), EX=ex01 (grade one exercise)"

deps:
	@scripts/ensure-deps.sh

# Used by the grader: build one exercise's tests, and its benchmark (at -O2),
# for the submission in $(SUBMISSION) (the reference is graded the same way).
$(foreach e,$(EXERCISES),$(eval tests-$(e): $(SUBBUILD)/bin/test-$(e) $(SUBBUILD)/bin/$($(e)_PROG)))
$(foreach e,$(EXERCISES),$(eval bench-$(e): $(SUBBUILD)/o2/bin/bench-$(e)))
$(foreach e,$(EXERCISES),$(eval cov-$(e): $(SUBBUILD)/cov/bin/test-$(e)))

EX ?=
# A handout has no solutions/: the reference comes as objects in reference/.
GRADE_REFERENCE := $(if $(wildcard solutions),,--reference reference)
grade: deps build/bin/grader
	@build/bin/grader --root . --submission $(SUBMISSION) --out build/grade \
	    $(GRADE_REFERENCE) $(if $(EX),--exercise $(EX))

# Run one exercise's tests against the student's code, readable output.
$(foreach e,$(EXERCISES),$(eval $(e): deps $(SUBBUILD)/bin/test-$(e) ; \
    @$(SUBBUILD)/bin/test-$(e) -j1 $$(TESTARGS)))

memcheck: deps $(foreach e,$(EXERCISES),$(MEMBUILD)/bin/test-$(e))
	@set -e; for e in $(EXERCISES); do \
	    echo "== memcheck $$e (reference, ASan + UBSan) =="; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MEMBUILD)/bin/test-$$e -j1 $(TESTARGS); \
	done

# Everything built from the reference solutions.
ref-all: $(foreach e,$(EXERCISES),$(REFBUILD)/bin/test-$(e) $(REFBUILD)/bin/$($(e)_PROG))

# The harness against the reference solutions (must all pass).
test-ref: deps $(foreach e,$(EXERCISES),$(REFBUILD)/bin/test-$(e))
	@set -e; for e in $(EXERCISES); do \
	    echo "== $$e against the reference =="; \
	    $(REFBUILD)/bin/test-$$e -j1 $(TESTARGS); \
	done

# Line and branch coverage of the TODO files and the given code by the tests,
# as HTML (per file) and a JSON summary under build/coverage/<name>/.
coverage: deps $(foreach e,$(EXERCISES),$(COVBUILD)/bin/test-$(e))
	@find $(COVBUILD) -name '*.gcda' -delete
	@for e in $(EXERCISES); do $(COVBUILD)/bin/test-$$e -j1 >$(COVBUILD)/test-$$e.log 2>&1 || \
	    echo "coverage: some $$e tests failed (see $(COVBUILD)/test-$$e.log)"; done
	@mkdir -p $(COVOUT)
	@gcovr --root . --object-directory $(COVBUILD) \
	    --filter '$(COVSRC)/' --filter 'skeletons/' --exclude '.*_main\.c$$' \
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

grader-selftest: build/bin/grader
	@grader/tests/run-selftest.sh $(abspath build/bin/grader)

check: deps
	@if [ ! -d solutions ]; then echo "make check tests the workbook itself and needs" \
	    "solutions/, which a student handout does not have: use make grade"; exit 2; fi
	@scripts/check.sh

# The reference side by side with the Python originals (and Node's ws): one
# table per exercise, and build/bench/results.{json,md} (docs/en/benchmarks.md).
bench: deps
	@if [ ! -d solutions ] || [ ! -d harness/peers ]; then echo "make bench compares the" \
	    "reference solutions with the Python originals, which a student handout does not have"; exit 2; fi
	@scripts/bench.sh

# A student repository, without solution sources, in build/handout/.
handout: deps
	@scripts/make-handout.sh build/handout

print-exercises:
	@echo $(EXERCISES)

clean:
	rm -rf build

# Runs the reference's tests N times in a row; stops at the first failure.
N ?= 10
repeat: $(foreach e,$(EXERCISES),$(REFBUILD)/bin/test-$(e))
	@set -e; for i in $$(seq $(N)); do \
	    for e in $(EXERCISES); do \
	        $(REFBUILD)/bin/test-$$e -j1 $(TESTARGS) >build/repeat.log 2>&1 \
	            || { cat build/repeat.log; echo "run $$i: $$e FAILED"; exit 1; }; \
	    done; echo "run $$i: ok"; \
	done
