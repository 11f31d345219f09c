# normlab: `make` builds ./normlab and build/libnormlab.a; `make check` runs every test.
PREFIX   ?= /usr/local
CC       ?= cc
LUA_PC   := $(shell pkg-config --exists lua5.4 && echo lua5.4 || echo lua-5.4)
PKGS     := $(LUA_PC) readline libcurl zlib
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fno-strict-aliasing \
            -march=x86-64-v2 -mtune=native $(shell pkg-config --cflags $(PKGS)) -I/usr/include/x86_64-linux-gnu/openblas-pthread
override LDLIBS += $(shell pkg-config --libs $(PKGS)) -lopenblas -lm -lpthread
LUADIR   := $(PREFIX)/share/normlab/lua
BUILD    ?= build

CORE_SRC := $(wildcard src/core/*.c src/ops/*.c src/data/*.c)
LUA_SRC  := $(filter-out src/lua/main.c,$(wildcard src/lua/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
LUA_OBJ  := $(LUA_SRC:%.c=$(BUILD)/%.o)
CTESTS   := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/test_*.c))

.PHONY: all check check-asan check-tsan tsan-run install deps clean bench fuzz

all: normlab $(BUILD)/libnormlab.a

$(BUILD)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DNL_INSTALL_LUA_DIR='"$(LUADIR)"' -c $< -o $@

$(BUILD)/libnormlab.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The program embeds the bindings and links the pure C core library.
normlab: $(BUILD)/src/lua/main.o $(LUA_OBJ) $(BUILD)/libnormlab.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libnormlab.a tests/c/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Itests/c -o $@ $< $(BUILD)/libnormlab.a $(LDLIBS)

check: all $(CTESTS)
	@bash tests/run.sh $(BUILD)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build tree.
# (allocator_may_return_null: the tests ask for absurd sizes and expect a Lua error, not an abort)
check-asan:
	$(MAKE) BUILD=build-asan CC=clang CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' normlab-asan

normlab-asan: $(BUILD)/src/lua/main.o $(LUA_OBJ) $(BUILD)/libnormlab.a $(CTESTS)
	$(CC) $(CFLAGS) -o $(BUILD)/normlab $(BUILD)/src/lua/main.o $(LUA_OBJ) $(BUILD)/libnormlab.a $(LDLIBS)
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 NORMLAB_BIN=$(BUILD)/normlab bash tests/run.sh $(BUILD)

# The C tests (the thread pool and every threaded kernel, with 1 to 3 threads) under
# ThreadSanitizer, in their own build tree; the first race ends a test with status 66.
# tests/c/tsan.supp drops the reports TSan cannot judge: OpenBLAS's uninstrumented hand-offs.
check-tsan:
	$(MAKE) BUILD=build-tsan CC=clang CFLAGS='-O1 -g -fsanitize=thread' tsan-run

tsan-run: $(CTESTS)
	@bad=0; for t in $(CTESTS); do \
	  if TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/c/tsan.supp" $$t >$(BUILD)/tsan.log 2>&1; \
	  then echo "clean    $$t"; \
	  else bad=$$((bad + 1)); echo "FAILED   $$t"; grep -E '^not ok|WARNING|SUMMARY|#[0-3] ' $(BUILD)/tsan.log | head -20; fi; \
	done; echo "ThreadSanitizer: $$bad of $(words $(CTESTS)) C tests failed"; [ $$bad -eq 0 ]

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LUADIR)
	install -m 755 normlab $(DESTDIR)$(PREFIX)/bin/normlab
	cd lua && find normlab -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(LUADIR)/{} \;
	find data/sample -type f -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/normlab/{} \;

# Debian packages needed to build, test and benchmark (used by .ci/run and the README).
DEB_PKGS := build-essential pkg-config liblua5.4-dev libopenblas-dev libreadline-dev \
            libcurl4-openssl-dev zlib1g-dev gnuplot-nox python3 python3-torch python3-numpy \
            tmux clang libclang-rt-14-dev valgrind dataset-fashion-mnist file
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS)

bench: all
	bash bench/run.sh

fuzz:
	bash fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz normlab
