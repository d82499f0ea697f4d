# libvirt is loaded with dlopen at run time, so building needs only gcc and
# a machine without libvirt.so.0 gets a clear install hint instead of a
# link error.
GO      ?= go
TAGS    := libvirt_dlopen
BIN     := virtchain
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build setup demo test unit bench fuzz vet clean

build:
	$(GO) build -tags $(TAGS) -ldflags "-X virtchain/cli.Version=$(VERSION)" -o $(BIN) .

setup:
	bash scripts/setup.sh

demo: setup build
	./$(BIN) lab up
	./$(BIN)

vet:
	gofmt -l . | (! grep .) 
	$(GO) vet -tags $(TAGS) ./...

# unit runs the tests that need no libvirtd.
unit:
	$(GO) test -tags $(TAGS) -count=1 ./...

# test runs everything, including the integration tests against the real
# libvirtd and QEMU (VIRTCHAIN_INTEGRATION=1 is the switch), under the race
# detector: the event loop, the job watcher and the TUI's Cmds run at once.
test: setup build vet
	VIRTCHAIN_INTEGRATION=1 VIRTCHAIN_BIN=$(CURDIR)/$(BIN) $(GO) test -race -tags $(TAGS) -count=1 -p 1 -timeout 45m ./...

bench: setup build
	bash scripts/bench.sh

fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz FuzzReadHeader -fuzztime 30s ./libvirtx/qcow2

clean:
	rm -f $(BIN)
