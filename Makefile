# rmgr - declarative manager for Redis + Sentinel + twemproxy clusters.
#
#   make                     build ./rmgr
#   make test                unit + integration tests (starts real servers on loopback)
#   make unit                unit tests only
#   make SANITIZER=address   build and run the tests under ASan (also: undefined,
#                            address,undefined)
#   make fuzz                libFuzzer on every tests/fuzz target (FUZZ_TIME=60 s each)
#   make valgrind            unit tests under valgrind
#   make ci                  what CI runs (.ci/run): make test, then unit + integration under
#                            ASan+UBSan, then the unit suite under valgrind
#   make demo                deploy specs/local.yaml on this machine (see README)
#   make bench               benchmarks
#   make soak                the chaos test for 10 minutes (CHAOS_DURATION_S to change)

VERSION   := 0.1.0
PKGS      := libgit2 yaml-0.1 hiredis libcurl libssh2 jansson libcrypto libmicrohttpd
CC        ?= cc
OPT       ?= -O2 -g
WARN      := -Wall -Wextra -Wstrict-prototypes -Wvla -Wno-missing-field-initializers
CPPFLAGS  += -D_GNU_SOURCE -DRMGR_VERSION='"$(VERSION)"' -Isrc
CFLAGS    += -std=c11 $(OPT) $(WARN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS    += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

comma     := ,
ifeq ($(SANITIZER),address)
  CFLAGS  += -fsanitize=address -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address
else ifeq ($(SANITIZER),undefined)
  CFLAGS  += -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=undefined
else ifeq ($(SANITIZER),address$(comma)undefined)
  CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZER),fuzzer)
  # libFuzzer builds (make fuzz): clang, with ASan and UBSan; the targets link -fsanitize=fuzzer
  CC      := clang
  CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
else ifneq ($(SANITIZER),)
  $(error SANITIZER must be address, undefined, address$(comma)undefined or fuzzer)
endif

BUILD     := build$(if $(SANITIZER),-$(subst $(comma),-,$(SANITIZER)))
CORE_SRC  := $(wildcard src/*.c)
CORE_OBJ  := $(CORE_SRC:src/%.c=$(BUILD)/src/%.o)
# the command line (src/cli/): linked into rmgr only, never into libcore.a
CLI_SRC   := $(wildcard src/cli/*.c)
CLI_OBJ   := $(CLI_SRC:src/%.c=$(BUILD)/src/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
# the C test harness (harness.c, harness_proc.c, harness_redis.c, harness_sshd.c): linked
# into every integration test
HARNESS   := $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(wildcard tests/harness*.c))
RMGR_BIN  := $(BUILD)/rmgr
# fuzz targets (tests/fuzz/fuzz_<name>.c); replay_<name> feeds them tests/fuzz/corpus/<name>/
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)

# with a sanitizer, plain `make` builds and tests
.DEFAULT_GOAL := $(if $(SANITIZER),test,all)

.PHONY: all test unit integration valgrind demo bench soak clean tests-build deps install uninstall \
        fuzz fuzz-build ci
all: rmgr

rmgr: $(BUILD)/rmgr
	@if [ "$(BUILD)" = build ]; then cp $< $@; fi

$(BUILD)/src/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)/src
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/src/cli/%.o: src/cli/%.c $(wildcard src/*.h src/cli/*.h) | $(BUILD)/src/cli
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# anew each time: `ar r` would keep members whose source moved away
$(BUILD)/libcore.a: $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/rmgr: $(CLI_OBJ) $(BUILD)/libcore.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# static pattern: a plain % rule cannot match tests/harness.c (empty stem)
$(HARNESS): $(BUILD)/tests/%.o: tests/%.c $(wildcard tests/harness*.h) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -c -o $@ $<

# unit tests of the command line's option parser link it explicitly
UNIT_CLI  := $(BUILD)/tests/test_cli_opt $(BUILD)/tests/test_notify_format
$(UNIT_CLI): $(BUILD)/tests/%: tests/unit/%.c tests/test.h $(BUILD)/src/cli/opt.o $(BUILD)/libcore.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/src/cli/opt.o $(BUILD)/libcore.a $(LDLIBS)

# every command's --help against its option table: all of src/cli but main()
CLI_CMD_OBJ := $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))
$(BUILD)/tests/test_cli_help: tests/unit/test_cli_help.c tests/test.h $(CLI_CMD_OBJ) $(BUILD)/libcore.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(CLI_CMD_OBJ) $(BUILD)/libcore.a $(LDLIBS)

# tests/unit/*.h (plan_case.h ...) are shared by several unit tests
$(BUILD)/tests/%: tests/unit/%.c tests/test.h $(wildcard tests/unit/*.h) $(BUILD)/libcore.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcore.a $(LDLIBS)

# the fixtures' headers (cluster_fixture.h ...) are shared by several tests
$(BUILD)/tests/%: tests/integration/%.c tests/test.h $(wildcard tests/integration/*.h tests/harness*.h) \
                 $(HARNESS) $(BUILD)/libcore.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(HARNESS) $(BUILD)/libcore.a $(LDLIBS)

$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h \
                $(BUILD)/libcore.a | $(BUILD)/tests/fuzz
	$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c \
		tests/fuzz/fuzz_$*.c $(BUILD)/libcore.a $(LDLIBS)

$(BUILD)/src $(BUILD)/src/cli $(BUILD)/tests $(BUILD)/tests/fuzz:
	mkdir -p $@

tests-build: $(RMGR_BIN) $(UNIT_BIN) $(INTEG_BIN) $(FUZZ_REPLAY)

# libFuzzer (clang, ASan+UBSan): each target for FUZZ_TIME seconds (or FUZZ_RUNS inputs),
# FUZZ_NAMES to pick some. New inputs go to build-fuzzer/corpus/<name>/ (the committed
# tests/fuzz/corpus/<name>/ are the seeds); crashes to build-fuzzer/crashes/: copy each
# into tests/fuzz/corpus/<name>/ with its fix.
FUZZ_TIME ?= 60
FUZZ_RUNS ?= -1
FUZZ_FLAGS ?= -max_len=8192
fuzz:
	$(MAKE) SANITIZER=fuzzer fuzz-build
	@set -e; for n in $(FUZZ_NAMES); do \
	    mkdir -p build-fuzzer/corpus/$$n build-fuzzer/crashes; \
	    echo "=== fuzz $$n ($(FUZZ_TIME) s)"; \
	    build-fuzzer/tests/fuzz/fuzz_$$n -max_total_time=$(FUZZ_TIME) -runs=$(FUZZ_RUNS) \
	        $(FUZZ_FLAGS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=build-fuzzer/crashes/$$n- \
	        build-fuzzer/corpus/$$n tests/fuzz/corpus/$$n; \
	done

fuzz-build: $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/fuzz_%)

$(BUILD)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libcore.a | $(BUILD)/tests/fuzz
	$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(BUILD)/libcore.a $(LDLIBS)

# tests/run.sh runs every binary and script and ends with the total "N passed, N failed"
unit: $(RMGR_BIN) $(UNIT_BIN) $(FUZZ_REPLAY)
	RMGR_BIN=$(abspath $(RMGR_BIN)) BUILD=$(BUILD) tests/run.sh unit

integration: $(RMGR_BIN) $(INTEG_BIN)
	RMGR_BIN=$(abspath $(RMGR_BIN)) BUILD=$(BUILD) tests/run.sh integration

# installs missing Debian packages first, so `make test` works on a fresh machine
test: deps
	$(MAKE) tests-build
	RMGR_BIN=$(abspath $(RMGR_BIN)) BUILD=$(BUILD) tests/run.sh all

valgrind: $(RMGR_BIN) $(UNIT_BIN) $(FUZZ_REPLAY)
	RMGR_BIN=$(abspath $(RMGR_BIN)) BUILD=$(BUILD) VALGRIND=1 tests/run.sh unit

# the plain suite (with the fuzz corpus), the same under ASan+UBSan, the unit suite under
# valgrind (--error-exitcode): each must pass; about 30 minutes on 2 cores
ci:
	$(MAKE) test
	$(MAKE) SANITIZER=address,undefined test
	$(MAKE) valgrind

demo: deps
	$(MAKE) rmgr
	contrib/demo.sh

deps:
	@contrib/install-deps.sh

bench: rmgr
	bench/run.sh

# the chaos run of tests/integration/test_chaos.sh for 10 minutes, with its figures
# (CHAOS_DURATION_S=120 make soak for a shorter one)
soak: $(RMGR_BIN)
	RMGR_BIN=$(abspath $(RMGR_BIN)) RMGR_TESTS_DIR=$(CURDIR)/tests \
		CHAOS_DURATION_S=$${CHAOS_DURATION_S:-600} tests/integration/test_chaos.sh

PREFIX    ?= /usr/local
install: rmgr
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/rmgr/schemas
	install -m 0755 rmgr $(DESTDIR)$(PREFIX)/bin/rmgr
	install -m 0644 schemas/rmgr.schema.json $(DESTDIR)$(PREFIX)/share/rmgr/schemas/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 rmgr.1 $(DESTDIR)$(PREFIX)/share/man/man1/rmgr.1
	install -m 0644 contrib/bash-completion/rmgr $(DESTDIR)$(PREFIX)/share/bash-completion/completions/rmgr

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/rmgr $(DESTDIR)$(PREFIX)/share/rmgr/schemas/rmgr.schema.json
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/rmgr.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/rmgr
	-rmdir $(DESTDIR)$(PREFIX)/share/rmgr/schemas $(DESTDIR)$(PREFIX)/share/rmgr

clean:
	rm -rf build build-address build-undefined build-address-undefined build-fuzzer rmgr
