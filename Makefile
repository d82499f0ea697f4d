# libvirt is loaded with dlopen at run time, so building needs only gcc and
# a machine without libvirt.so.0 gets a clear install hint instead of a
# link error.
GO      ?= go
TAGS    := libvirt_dlopen
BIN     := virtchain
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build install setup demo screenshots test test-matrix hosts-up hosts-down unit soak bench fuzz vet clean

# build uses libvirt.org/go/libvirt with its init() made lazy (see
# scripts/libvirt_lazy.sh): commands that never connect (version, help,
# completion) then never load libvirt.so.0.
build:
	$(GO) build -modfile $$(GO=$(GO) bash scripts/libvirt_lazy.sh) -tags $(TAGS) -ldflags "-X virtchain/cli.Version=$(VERSION)" -o $(BIN) .

# install puts the binary, the man page and the bash completion under
# PREFIX, all written by the binary itself; DESTDIR stages them for a
# package. SOURCE_DATE_EPOCH (the last commit's time) dates the man page,
# so the same commit installs the same files.
PREFIX  ?= /usr/local
DESTDIR ?=
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/$(BIN)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) ./$(BIN) man > $(BIN).1.tmp
	install -m 0644 $(BIN).1.tmp $(DESTDIR)$(PREFIX)/share/man/man1/$(BIN).1
	./$(BIN) completion bash > $(BIN).bash.tmp
	install -m 0644 $(BIN).bash.tmp $(DESTDIR)$(BASHCOMPDIR)/$(BIN)
	rm -f $(BIN).1.tmp $(BIN).bash.tmp

setup:
	bash scripts/setup.sh

demo: setup build
	./$(BIN) lab up
	./$(BIN)

# screenshots remakes assets/screenshots/*.png from the real program: a lab
# of its own (LAB_PREFIX, LAB_DIR; none may exist yet), the TUI in a tmux
# of its own at 80x24, each screen captured with capture-pane -e and drawn
# by scripts/ansishot with the DejaVu fonts setup installs.
LAB_PREFIX ?= lab-
LAB_DIR    ?= /var/lib/libvirt/images/virtchain-lab
screenshots: setup build
	LAB_PREFIX=$(LAB_PREFIX) LAB_DIR=$(LAB_DIR) bash scripts/screenshots.sh

# vet runs the linters. staticcheck and gocyclo are go.mod tool directives,
# so `go tool` fetches them through the module proxy like any dependency: a
# fresh clone needs no install step. gocyclo holds every function outside
# the tests to a cyclomatic complexity of 20.
vet:
	gofmt -l . | (! grep .)
	$(GO) vet -tags $(TAGS) ./...
	$(GO) tool staticcheck -tags $(TAGS) ./...
	$(GO) tool gocyclo -over 20 -ignore '_test' .

# unit runs the tests that need no libvirtd.
unit:
	$(GO) test -tags $(TAGS) -count=1 ./...

# test runs everything, including the integration tests against the real
# libvirtd and QEMU (VIRTCHAIN_INTEGRATION=1 is the switch), under the race
# detector: the event loop, the job watcher and the TUI's Cmds run at once.
# The suite runs once per host: this machine's libvirtd (Debian 12: libvirt
# 9.0) and a Debian 13 root (libvirt 11.3) that scripts/testhost.sh starts
# and stops again.
HOSTS ?= local trixie
test: setup build vet
	bash scripts/test.sh $(HOSTS)

# test-matrix adds Debian 13's backports (libvirt 12.x, QEMU 11).
test-matrix: setup build vet
	bash scripts/test.sh local trixie trixie-backports

hosts-up:
	bash scripts/testhost.sh up trixie; bash scripts/testhost.sh up local-ssh

hosts-down:
	bash scripts/testhost.sh down trixie; bash scripts/testhost.sh down trixie-backports; bash scripts/testhost.sh down local-ssh

# soak runs the randomized operation-sequence suite (soak/) for STEPS steps
# from SEED (default: random, printed) and prints its figures. SKIP leaves
# operations out ("fifo,enospc"); LIBVIRTD=1 adds libvirtd restarts.
SEED     ?= $(shell od -An -N3 -tu4 /dev/urandom | tr -d ' ')
STEPS    ?= 1000
SKIP     ?=
LIBVIRTD ?= 0
soak: setup build
	VIRTCHAIN_INTEGRATION=1 VIRTCHAIN_BIN=$(CURDIR)/$(BIN) SOAK_SEED=$(SEED) SOAK_STEPS=$(STEPS) \
	SOAK_SKIP=$(SKIP) SOAK_LIBVIRTD=$(LIBVIRTD) \
	$(GO) test -tags $(TAGS) -count=1 -timeout 0 -run '^TestSoak$$' -v ./soak/

# bench prints the README's figures (scripts/bench.sh). SCALE=500 times a
# 500-domain fleet instead of 40 (built for the run, removed afterwards);
# BENCH_PARTS picks parts, BENCH_PREFIX names the fleet.
bench: setup build
	bash scripts/bench.sh

fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz FuzzReadHeader -fuzztime 30s ./libvirtx/qcow2

clean:
	rm -f $(BIN)
	rm -rf .build
