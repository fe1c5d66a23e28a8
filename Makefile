# Duro: one binary, ./duro. See README.md for the targets a user needs.

BUILD    ?= build
PREFIX   ?= /usr/local
CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
            -Wshadow -Wpointer-arith -Wvla -Wno-missing-field-initializers
SAN      ?=
ALL_CFLAGS   = -std=c11 $(WARNINGS) $(CFLAGS) $(SAN)
ALL_CPPFLAGS = -D_GNU_SOURCE -I. -I/usr/include/postgresql -MMD -MP $(CPPFLAGS)
LIBS     := -lpg_query -lsqlite3 -lpq -levent -levent_pthreads -levent_openssl -lssl -lcrypto -linih -lcurl -lpthread -lm
PYTHON   := /usr/bin/python3

LIB_SRCS  := $(wildcard core/*.c catalog/*.c sqlengine/*.c planner/*.c proxy/*.c web/*.c)
CLI_SRCS  := $(wildcard cli/*.c)
TEST_SRCS := $(wildcard tests/unit/test_*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60
DIFFFUZZ_SESSIONS ?= 5000
DIFFFUZZ_SEED ?= $(shell date +%s)
FORMAT_SRCS = $(wildcard core/*.[ch] catalog/*.[ch] sqlengine/*.[ch] planner/*.[ch] proxy/*.[ch] \
                         web/*.[ch] cli/*.[ch] tests/unit/*.[ch] fuzz/*.[ch])

.PHONY: all deps demo install unit e2e e2e-pg e2e-pg-core test asan fuzz fuzz-smoke fuzz-bins difffuzz format lint \
        bench-scan bench-refresh bench-swaplock bench-gateway bench-soak bench-web bench-catalog \
        bench-publish clean
.SECONDARY:

# What `make`, `make demo` and `make test` build and the README uses: ./duro, a copy of
# build/duro replaced by rename (so that a running daemon does not make the copy fail); in another
# BUILD directory, the binary there.
ifeq ($(BUILD),build)
BINARY := duro
else
BINARY := $(BUILD)/duro
endif

all: $(BINARY)

ifeq ($(BUILD),build)
duro: $(BUILD)/duro
	cp $< $@.tmp && mv -f $@.tmp $@
endif

$(BUILD)/duro: $(CLI_OBJS) $(BUILD)/libduro.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libduro.a $(LIBS)

$(BUILD)/libduro.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libduro.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libduro.a $(LIBS) -lcmocka

# A libFuzzer target: the project's objects are built with -fsanitize=fuzzer-no-link (SAN, below).
$(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/libduro.a
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libduro.a $(LIBS)

deps:
	@tools/install-deps test

# Duro on a throwaway PostgreSQL cluster with sample data and examples/views; Ctrl-C stops it.
# DEMO_ARGS="--views DIR" runs it on another repository (tools/demo -h).
demo:
	@tools/install-deps demo
	@$(MAKE) --no-print-directory $(BINARY)
	@$(PYTHON) tools/demo --duro $(abspath $(BINARY)) $(DEMO_ARGS)

# The binary, the systemd unit (started as $(PREFIX)/bin/duro) and, unless one is already there,
# /etc/duro/duro.conf with the catalog and the views repository at absolute paths.
install: $(BINARY)
	install -D -m 755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/duro
	install -d $(DESTDIR)/etc/duro $(DESTDIR)/etc/systemd/system
	test -e $(DESTDIR)/etc/duro/duro.conf || \
	    sed -e 's|^path = duro\.db$$|path = /var/lib/duro/duro.db|' \
	        -e 's|^path = views$$|path = /srv/duro/views|' \
	        conf/duro.conf > $(DESTDIR)/etc/duro/duro.conf
	sed 's|/usr/local/bin/duro|$(PREFIX)/bin/duro|g' conf/duro.service \
	    > $(DESTDIR)/etc/systemd/system/duro.service
	chmod 644 $(DESTDIR)/etc/duro/duro.conf $(DESTDIR)/etc/systemd/system/duro.service

unit: $(TEST_BINS)
	@cd tests/unit && ../../tools/with-pg ../../tools/run-unit $(abspath $(TEST_BINS))

e2e: $(BUILD)/duro
	DURO_BIN=$(abspath $(BUILD)/duro) $(PYTHON) -m pytest -q tests/e2e

# The end-to-end tests with every catalog in PostgreSQL ([catalog] url, a database per Duro on the
# tests' cluster); the tests about the SQLite file itself are deselected and listed.
e2e-pg: $(BUILD)/duro
	DURO_TEST_CATALOG=postgres DURO_BIN=$(abspath $(BUILD)/duro) $(PYTHON) -m pytest -q tests/e2e

# The end-to-end tests of what the catalog holds and serves, once more on a PostgreSQL catalog:
# what `make test` runs after the whole suite on SQLite (`make e2e-pg` runs every file).
E2E_PG_FILES := test_refresh test_web test_duro_sql test_markers test_crash test_retention \
                test_reads test_idle test_backoff test_cli
e2e-pg-core: $(BUILD)/duro
	DURO_TEST_CATALOG=postgres DURO_BIN=$(abspath $(BUILD)/duro) $(PYTHON) -m pytest -q \
	  $(E2E_PG_FILES:%=tests/e2e/%.py)

# Dependencies first, then the build, the C unit tests and the end-to-end tests (on SQLite, then
# the catalog's on PostgreSQL).
test: deps
	$(MAKE) --no-print-directory $(BINARY)
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory e2e-pg-core

# The unit and end-to-end tests under AddressSanitizer and UBSan, in a build of their own.
asan: deps
	$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  unit e2e

# Each libFuzzer target (fuzz/) for FUZZ_SECONDS, one after the other, from its seed corpus, in a
# build of its own (clang, ASan, UBSan); fails when one finds a crash, a leak or a timeout.
# docs/fuzzing.md says what each covers and how to replay what one found.
fuzz:
	@tools/install-deps fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="-O1 -g" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  fuzz-bins
	@tools/run-fuzz $(FUZZ_SECONDS) build-fuzz $(notdir $(FUZZ_BINS))
	@$(MAKE) --no-print-directory difffuzz

# DIFFFUZZ_SESSIONS protocol sessions (seeded with DIFFFUZZ_SEED) run against PostgreSQL directly
# and through Duro built as for fuzzing (ASan, UBSan), compared message for message; a session that
# differs is shrunk and written to build-fuzz/difffuzz/ (tests/difffuzz/difffuzz.py).
difffuzz:
	@tools/install-deps fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="-O1 -g" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  build-fuzz/duro
	ASAN_OPTIONS=detect_leaks=0 $(PYTHON) tests/difffuzz/difffuzz.py --duro build-fuzz/duro \
	  --sessions $(DIFFFUZZ_SESSIONS) --seed $(DIFFFUZZ_SEED) --save build-fuzz/difffuzz

# The same, 10 seconds each: what continuous integration runs.
fuzz-smoke:
	@$(MAKE) --no-print-directory FUZZ_SECONDS=10 fuzz

fuzz-bins: $(FUZZ_BINS)

format:
	clang-format -i $(FORMAT_SRCS)

lint:
	clang-format --dry-run -Werror $(FORMAT_SRCS)

bench-scan: $(BUILD)/duro
	$(PYTHON) bench/scan/run.py --duro $(abspath $(BUILD)/duro)

bench-refresh: $(BUILD)/duro
	$(PYTHON) bench/refresh/run.py --duro $(abspath $(BUILD)/duro)

# Readers and another view's refresh while a session idle in transaction blocks a view's swap.
bench-swaplock: $(BUILD)/duro
	$(PYTHON) bench/swaplock/run.py --duro $(abspath $(BUILD)/duro)

bench-gateway: $(BUILD)/duro
	@tools/install-deps bench
	$(PYTHON) bench/gateway/run.py --duro $(abspath $(BUILD)/duro)

# The warehouse transactions that publishing duro.status and duro.runs costs (bench/publish/run.py -h).
bench-publish: $(BUILD)/duro
	$(PYTHON) bench/publish/run.py --duro $(abspath $(BUILD)/duro)

# The web UI's pages on a catalog of 10,000 views and 1,000,000 runs (bench/web/run.py -h).
bench-web: $(BUILD)/duro
	$(PYTHON) bench/web/run.py --duro $(abspath $(BUILD)/duro)

# Ten minutes of pgbench through Duro with a view refreshed every second (bench/soak/run.py -h);
# fails when Duro's memory grows past warm-up or a transaction fails. Not part of CI.
bench-soak: $(BUILD)/duro
	@tools/install-deps bench
	$(PYTHON) bench/soak/run.py --duro $(abspath $(BUILD)/duro) $(SOAK_ARGS)

# duro.status and duro.runs through the gateway on 10,000 views and 1,000,000 runs
# (bench/catalog/run.py -h). Not part of CI.
bench-catalog: $(BUILD)/duro
	@tools/install-deps bench
	$(PYTHON) bench/catalog/run.py --duro $(abspath $(BUILD)/duro)

clean:
	rm -rf build build-asan build-fuzz duro

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
