# Fuzzing: libFuzzer drivers in fuzz/fuzz_<target>.c (each linked with
# fuzz/init.c), built with clang under ASan and UBSan into build/fuzz, one
# binary per target, seeded from the corpus in the tree (fuzz/corpus/<target>/). New inputs libFuzzer finds go
# to build/fuzz/corpus/<target>/, crashes to build/fuzz/artifacts/<target>/,
# so a run never dirties the tree; copy a seed worth keeping by hand.
#
#   make fuzz                      every target, FUZZ_SECONDS (60) each
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="request pylit" FUZZ_JOBS=2
#   make fuzz-build                only build the drivers
#
# scripts/fuzz.sh installs clang and its fuzzer runtime when they are
# missing (as root; otherwise it prints the apt-get line), runs the targets
# FUZZ_JOBS at a time and prints executions, speed and findings per target.
#
# `make test-asan` (in the Makefile) is the sanitizer build of the unit and
# HTTP tests: build/asan, ASan + UBSan, leaks are failures.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= $(shell nproc 2>/dev/null || echo 1)
FUZZ_BUILD   = build/fuzz
FUZZ_ALL     = $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
# Everything a driver reaches is instrumented for coverage and checked by
# the sanitizers; UB stops the run like a crash does.
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
# clang's -Wformat=2 also flags vsnprintf in callbacks whose format comes
# from a library (http.c's libmicrohttpd logger); gcc's -Werror build is
# the gate for warnings, so here they are shown, not fatal.
FUZZ_CFLAGS  = -std=c17 -O1 -g $(filter-out -Werror,$(CFLAGS_WARN)) -pthread
FUZZ_OBJ     = $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/obj/%.o)

.PHONY: fuzz fuzz-build fuzz-deps

fuzz: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_JOBS=$(FUZZ_JOBS) \
	    scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-deps:
	@scripts/fuzz.sh deps

$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/liboffer.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

# fuzz/init.c (LLVMFuzzerInitialize) is linked into every driver.
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/init.c fuzz/fuzz.h $(FUZZ_BUILD)/liboffer.a $(wildcard src/*.h)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< fuzz/init.c \
	    $(FUZZ_BUILD)/liboffer.a $(LDLIBS)

# The drivers again, built by $(CC) with fuzz/replay.c for a main instead of
# libFuzzer: `make test` replays the corpus in the tree through each
# (tests/fuzz-corpus.test.sh), so a driver that stops building or an input
# that fails its checks fails the tests, and `make test-asan` replays them
# under the sanitizers. No clang is needed.
FUZZ_REPLAY = $(FUZZ_ALL:%=$(BUILD)/replay/fuzz_%)

$(BUILD)/replay/fuzz_%: fuzz/fuzz_%.c fuzz/init.c fuzz/replay.c fuzz/fuzz.h $(BUILD)/liboffer.a \
                        $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< fuzz/init.c fuzz/replay.c $(BUILD)/liboffer.a $(LDLIBS)

test: $(if $(strip $(T)),$(if $(filter fuzz-corpus fuzz-corpus.test.sh,$(notdir $(T))),$(FUZZ_REPLAY)),$(FUZZ_REPLAY))
