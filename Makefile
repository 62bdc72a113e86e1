# scio - Happy Eyeballs for programs that cannot be changed.
# Plain make; build output goes to build/ only.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3
SAN     ?=

CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
BASE     = -std=gnu11 -fPIC -fvisibility=hidden -D_GNU_SOURCE $(WARN) -Ilib
ifneq ($(SAN),)
SANFLAGS = -fsanitize=$(SAN) -fno-omit-frame-pointer
endif
ALL_CFLAGS = $(BASE) $(CFLAGS) $(SANFLAGS)
LDHARD   = -Wl,-z,relro,-z,now
ALL_LDFLAGS = $(LDHARD) $(LDFLAGS) $(SANFLAGS)

# With Debian's musl-gcc (make musl): the programs are static, and the
# kernel's headers (linux/, asm/: linux-libc-dev), which musl-gcc does not
# search, come through a directory of links to them alone.
ifneq ($(findstring musl,$(notdir $(CC))),)
EXE_LDFLAGS ?= -static
KERNEL_HDRS = $(BUILD)/kernel-headers
BASE    += -isystem $(KERNEL_HDRS)
MULTIARCH := $(shell $(CC) -print-multiarch)
endif

LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_SRC = $(wildcard shim/*.c)
SHIM_OBJ = $(SHIM_SRC:%.c=$(BUILD)/obj/%.o)
# The shim's own logic (no interposed symbol): unit tests link it.
CORE_SRC = $(wildcard shim/core/*.c)
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC = $(wildcard tests/c/*.c)
TEST_BIN = $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
# Preloaded test helpers; never sanitized (they replace the allocator).
TEST_SO  = $(patsubst tests/preload/%.c,$(BUILD)/tests/%.so,$(wildcard tests/preload/*.c))

DEMOS    = $(if $(wildcard demo/scio-smtp.c),$(BUILD)/scio-smtp) \
	   $(if $(wildcard demo/telar.c),$(BUILD)/telar)
TARGETS = $(BUILD)/libscio.a $(BUILD)/libscio.so $(BUILD)/libscio-preload.so \
	  $(BUILD)/scio-history $(DEMOS)

.PHONY: all check test test-progs bench clean install uninstall deps demo fuzz soak mutants musl deb
all: $(TARGETS)

# Rebuild everything when the flags change (SAN=... builds, CFLAGS=...).
FLAGS_NOW = $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@
FORCE:

$(BUILD)/obj/%.o: %.c $(BUILD)/.flags | $(KERNEL_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/kernel-headers:
	mkdir -p $@
	ln -sfn /usr/include/linux /usr/include/asm-generic $@/
	ln -sfn /usr/include/$(MULTIARCH)/asm $@/asm

$(BUILD)/libscio.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libscio.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libscio.so.0 $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/libscio-preload.so: $(SHIM_OBJ) $(CORE_OBJ) $(LIB_OBJ) shim/exports.map
	$(CC) -shared -Wl,--version-script=shim/exports.map $(ALL_LDFLAGS) \
		-o $@ $(SHIM_OBJ) $(CORE_OBJ) $(LIB_OBJ) -ldl -lpthread

$(BUILD)/libscio-shim.a: $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/obj/shim/%.o: shim/%.c $(BUILD)/.flags | $(KERNEL_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ishim -Ishim/core -MMD -MP -c -o $@ $<

$(BUILD)/scio-history: $(BUILD)/obj/tools/scio-history.o $(BUILD)/libscio.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(EXE_LDFLAGS) -lpthread

# Each demo is demo/NAME.c plus any demo/NAME-*.c, linked with libscio.a.
$(BUILD)/scio-smtp: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard demo/scio-smtp*.c)) $(BUILD)/libscio.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(EXE_LDFLAGS)

$(BUILD)/telar: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard demo/telar*.c)) $(BUILD)/libscio.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(EXE_LDFLAGS)

$(BUILD)/tests/%: tests/c/%.c $(wildcard tests/c/*.h) $(BUILD)/libscio-shim.a $(BUILD)/libscio.a $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/c -Ishim/core -MMD -MP -MF $@.d -MT $@ \
		-o $@ $< $(BUILD)/libscio-shim.a $(BUILD)/libscio.a $(ALL_LDFLAGS) $(EXE_LDFLAGS) -lpthread

$(BUILD)/tests/%.so: tests/preload/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) -shared $(LDHARD) -o $@ $<

test-progs: $(TEST_BIN) $(TEST_SO)

deps:
	@sh tests/deps.sh

# The C unit tests (tests/c/test_*.c): no root, no network, seconds.
UNIT_BIN = $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/test_*.c))
check: $(UNIT_BIN)
	@failed=""; for t in $(UNIT_BIN); do \
		TSAN_OPTIONS="$${TSAN_OPTIONS:-exitcode=66:report_signal_unsafe=0:suppressions=$(CURDIR)/tests/tsan.supp}" \
			$$t > $$t.out 2>&1 || failed="$$failed $${t##*/}"; \
		echo "check: $${t##*/}: $$(tail -n 1 $$t.out)"; \
	done; \
	test -z "$$failed" || { echo "check: failed:$$failed (output in $(BUILD)/tests/*.out)"; exit 1; }


# make musl: the library, the shim and the programs built with Debian's
# musl-gcc in MUSL_BUILD (never sanitized), with the test programs
# tests/test_musl.py runs: race_client and fork_storm, static like the
# demos, and shim_probe and gai_loop, dynamic, for the shim to be
# preloaded into.
MUSL_BUILD ?= $(BUILD)/musl
MUSL_DYNAMIC = shim_probe gai_loop
musl: deps
	$(MAKE) CC=musl-gcc BUILD=$(MUSL_BUILD) SAN= all \
		$(addprefix $(MUSL_BUILD)/tests/,race_client fork_storm $(MUSL_DYNAMIC))

ifneq ($(KERNEL_HDRS),)
$(MUSL_DYNAMIC:%=$(BUILD)/tests/%): EXE_LDFLAGS =
endif

# The suite runs in TEST_JOBS pytest workers (python3-pytest-xdist): its
# tests mostly wait (on timers, namespaces, other programs), so twice the
# CPUs; every test owns its lab, its history store and its files, so they
# may run side by side (test_deb.py's packages, the system's, stay in one
# worker).  TEST_JOBS=1 runs them one after another.
TEST_JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
PYTEST_JOBS = $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadgroup)

test: deps check all test-progs musl
	SCIO_BUILD=$(abspath $(BUILD)) SCIO_MUSL_BUILD=$(abspath $(MUSL_BUILD)) \
		SCIO_SAN=$(SAN) $(PYTHON) -m pytest tests $(PYTEST_JOBS) $(PYTEST_ARGS)

# libFuzzer targets (clang): each runs FUZZ_SECONDS from the seeds in
# tests/fuzz/seeds/NAME (corpus grown in build/); crash reproducers land
# in tests/fuzz/crashes, to be committed with their fix.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_FLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -Ilib -fsanitize=fuzzer,address,undefined

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) -lpthread

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
	@mkdir -p tests/fuzz/crashes
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
			-artifact_prefix=tests/fuzz/crashes/ $(BUILD)/fuzz/corpus/$$t \
			tests/fuzz/seeds/$$t 2>&1 | grep -E '^Done|ERROR|SUMMARY' || true; \
		test -z "$$(ls tests/fuzz/crashes 2>/dev/null)" || exit 1; \
	done

# Breaks each rule of the race engine in turn; every mutant must make the
# engine's unit tests fail.
mutants:
	$(PYTHON) tests/mutants.py

SOAK_SECONDS ?= 300
soak: deps all test-progs
	SCIO_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/soak.py --seconds $(SOAK_SECONDS)

demo: all
	@sh tests/deps.sh
	@SCIO_BUILD=$(abspath $(BUILD)) $(PYTHON) demo/run-demo.py

bench: deps all test-progs
	SCIO_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/bench/run.py

clean:
	rm -rf $(BUILD)

VERSION  = $(shell sed -n 's/^\#define SCIO_VERSION "\(.*\)"/\1/p' lib/scio.h)
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/scio
# telar's systemd units; samples in DOCDIR unless given (packages: /lib/systemd/system)
UNITDIR ?= $(DOCDIR)
UNITS    = $(wildcard demo/*.service demo/*.socket)
MANPAGES = $(wildcard man/*.[1-8])

$(BUILD)/scio-run: scripts/scio-run lib/scio.h
	sed -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@
	chmod 755 $@

$(BUILD)/scio.pc: Makefile lib/scio.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
		'Name: scio' 'Description: Happy Eyeballs (RFC 8305) connects and line I/O' \
		'Version: $(VERSION)' 'Libs: -L$${libdir} -lscio' 'Cflags: -I$${includedir}' > $@

install: all $(BUILD)/scio-run $(BUILD)/scio.pc
	install -d $(DESTDIR)$(LIBDIR)/scio $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR)
	install -m 644 $(BUILD)/libscio.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libscio.so $(DESTDIR)$(LIBDIR)/libscio.so.0
	ln -sf libscio.so.0 $(DESTDIR)$(LIBDIR)/libscio.so
	install -m 644 $(BUILD)/libscio-preload.so $(DESTDIR)$(LIBDIR)/scio/
	install -m 755 $(BUILD)/scio-history $(DESTDIR)$(LIBDIR)/scio/
	$(if $(wildcard $(MUSL_BUILD)/libscio-preload.so),install -d $(DESTDIR)$(LIBDIR)/scio/musl && \
		install -m 644 $(MUSL_BUILD)/libscio-preload.so $(DESTDIR)$(LIBDIR)/scio/musl/)
	install -m 644 lib/scio.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(BUILD)/scio.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 755 $(BUILD)/scio-run $(DESTDIR)$(BINDIR)/
	$(if $(wildcard $(BUILD)/scio-smtp),install -m 755 $(BUILD)/scio-smtp $(DESTDIR)$(BINDIR)/)
	$(if $(wildcard $(BUILD)/telar),install -m 755 $(BUILD)/telar $(DESTDIR)$(SBINDIR)/)
	$(foreach f,$(UNITS),sed 's|/usr/local/sbin/|$(SBINDIR)/|' $(f) > $(DESTDIR)$(UNITDIR)/$(notdir $(f)) && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$(notdir $(f));)
	$(foreach m,$(MANPAGES),install -d $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m))) && \
		install -m 644 $(m) $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/;)

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libscio.a $(DESTDIR)$(LIBDIR)/libscio.so \
	      $(DESTDIR)$(LIBDIR)/libscio.so.0 $(DESTDIR)$(LIBDIR)/scio/libscio-preload.so \
	      $(DESTDIR)$(LIBDIR)/scio/scio-history $(DESTDIR)$(LIBDIR)/scio/musl/libscio-preload.so \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/scio.pc $(DESTDIR)$(INCDIR)/scio.h \
	      $(DESTDIR)$(BINDIR)/scio-run $(DESTDIR)$(BINDIR)/scio-smtp $(DESTDIR)$(SBINDIR)/telar
	$(foreach f,$(UNITS),rm -f $(DESTDIR)$(UNITDIR)/$(notdir $(f));)
	rm -rf $(DESTDIR)$(DOCDIR)
	$(foreach m,$(MANPAGES),rm -f $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m));)
	-rmdir $(DESTDIR)$(LIBDIR)/scio/musl $(DESTDIR)$(LIBDIR)/scio 2>/dev/null

# Debian packages (debian/, debhelper), built in a copy of the tree under
# $(BUILD)/deb: scio, libscio0, libscio-dev, scio-demos land in $(BUILD)/deb.
deb:
	@sh debian/deps.sh
	sh debian/build.sh $(BUILD)/deb

# Header dependencies of every object (lib, shim, tools, demo) and test program.
-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/tests/*.d)
