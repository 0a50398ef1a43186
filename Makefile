# offerd — front door. `make run` and `make test` are the two commands a
# user needs; everything else is here for developers and CI.
#
# Every src/*.c except the two mains is linked into both binaries, so adding
# a module is adding a file.  Every tests/test_*.c becomes one test binary.

CC      ?= gcc
BUILD   ?= build
OPT     ?= -O2 -g
SAN     ?=
CFLAGS_WARN = -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
              -Wshadow -Wpointer-arith -Wcast-qual -Wsign-compare -Wformat=2 \
              -Wundef -Wvla -fno-common
VERSION ?= 1.0.0
PKGS    = libmicrohttpd jansson libpq sqlite3 libcurl zlib libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -DOFFERD_VERSION=\"$(VERSION)\" -Isrc $(PKG_CFLAGS)
CFLAGS  += -std=c17 $(OPT) $(SAN) $(CFLAGS_WARN) -pthread
LDLIBS  += $(PKG_LIBS) -lcsv -lm -pthread
LDFLAGS += $(SAN)

MAINS   = src/offerd.c src/offerctl.c
LIB_SRC = $(filter-out $(MAINS),$(wildcard src/*.c))
LIB_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TESTS   = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

PORT        ?= 8000
DATABASE_URL ?= sqlite:var/offerd.db

# Every target that is not a file. tests/makefile.test.sh checks that each
# name here has a rule and that no word-like target is missing.
.PHONY: all build deps deps-check run run-setup test test-asan clean format format-check format-stat bench

all: build
build: deps-check $(BUILD)/offerd $(BUILD)/offerctl

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj:
	@mkdir -p $@ $(BUILD)/tests

$(BUILD)/liboffer.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/offerd: $(BUILD)/obj/offerd.o $(BUILD)/liboffer.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/offerctl: $(BUILD)/obj/offerctl.o $(BUILD)/liboffer.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests may #include the .c file under test to reach static helpers;
# they link against the library for everything else.
$(BUILD)/tests/%: tests/%.c $(BUILD)/liboffer.a $(wildcard tests/*.h)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(BUILD)/liboffer.a $(LDLIBS) -lcmocka

# Installs what is missing (as root) or prints the apt-get line to run.
deps:
	@scripts/deps.sh

deps-check:
	@scripts/deps.sh --check-only >/dev/null 2>&1 || scripts/deps.sh

# make run = run-setup, then offerd in the foreground. run-setup prepares
# the database: Company A's example catalogue is imported only while A has
# no catalogue (offerctl db count on the TB_PRODUCTS_A view, which works on
# SQLite and PostgreSQL alike), so a catalogue the user imported survives
# every later start; a development key for company A is created once and
# kept in DEV_KEY.
DEV_KEY ?= var/dev-key
EXAMPLE_CATALOGUE = examples/company_A_products.csv

run-setup: build
	@mkdir -p $(dir $(DEV_KEY)) $(dir $(patsubst sqlite:%,%,$(filter sqlite:%,$(DATABASE_URL))))
	@n=$$($(BUILD)/offerctl db count tb_products_a --database-url '$(DATABASE_URL)') || exit 1; \
	if [ "$$n" = 0 ]; then \
	    $(BUILD)/offerctl products import $(EXAMPLE_CATALOGUE) --company A \
	        --database-url '$(DATABASE_URL)' || exit 1; \
	else \
	    echo "offerd: company A has a catalogue of $$n products; $(EXAMPLE_CATALOGUE) not imported"; \
	fi
	@if [ ! -s $(DEV_KEY) ]; then umask 077; \
	    $(BUILD)/offerctl keys create --company A --database-url '$(DATABASE_URL)' > $(DEV_KEY).tmp && \
	    mv $(DEV_KEY).tmp $(DEV_KEY) || { rm -f $(DEV_KEY).tmp; exit 1; }; fi
	@echo "offerd: development API key for company A ($(DEV_KEY)): $$(cat $(DEV_KEY))"
	@echo "offerd: try  curl -H \"Authorization: Bearer $$(cat $(DEV_KEY))\" ... (see README)"

run: run-setup
	$(BUILD)/offerd --port $(PORT) --database-url '$(DATABASE_URL)'

# `make test T=name` runs one test (or several, space-separated): a cmocka
# binary (T=test_util) or a script (T=http for tests/http.test.sh). Only the
# binaries named are built then, and PostgreSQL is started only when a
# chosen test needs it (scripts/run-tests.sh says how that is decided).
T ?=
TEST_BINS = $(if $(strip $(T)),$(filter $(addprefix $(BUILD)/tests/,$(notdir $(T))),$(TESTS)),$(TESTS))

test: build $(TEST_BINS)
	@scripts/run-tests.sh $(BUILD) $(T)

test-asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

# clang-format with the checked-in .clang-format on src/, tests/ and fuzz/:
# format rewrites the files, format-check fails where one differs,
# format-stat counts the lines a format would change (scripts/format.sh).
format:
	@scripts/format.sh fix

format-check:
	@scripts/format.sh check

format-stat:
	@scripts/format.sh stat

clean:
	rm -rf $(BUILD) build

# Feature fragments (swagger assets, docker checks...) add targets here.
-include $(wildcard mk/*.mk)

# Benchmark against the reference peer (needs ../shared/peer); not part of test.
bench: build
	@scripts/bench.sh
