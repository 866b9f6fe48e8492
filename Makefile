# snap: see README.md. Every target works on a fresh Debian 12 machine as root.
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 5s
FUZZ_TARGETS := repo/format:FuzzParsePackHeader repo/format:FuzzParseIndex repo/format:FuzzParseTree repo/format:FuzzParseRefs \
	repo:FuzzParseSnapshot repo:FuzzPeekConfig repo:FuzzOpenConfig repo/archiver:FuzzReadFilesCache crypt:FuzzParseKeyFile \
	repo/retention:FuzzParseDuration repo/backend/location:FuzzParse metrics:FuzzReadPrevious metrics:FuzzRoundTrip \
	internal/rdb:FuzzCount internal/cryptojs:FuzzDecrypt repo/format:FuzzCheckItemName \
	repo/compress:FuzzDecode repo/backend/sftp:FuzzSSHSaid

.PHONY: build test deps lint unit race fuzz crash bench bench-small demo clean

build:
	$(GO) build -o snap ./cmd/snap

# make test: install what the tests need, lint, run every test (with the
# race detector on the concurrent packages) and each fuzz target briefly.
test: deps lint unit race fuzz

deps:
	./scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...
	./scripts/shellcheck.sh

unit:
	$(GO) test -count=1 -timeout 20m ./...

# ./repo/... includes the backends and their shared suite (repo/backend/...).
race:
	$(GO) test -count=1 -race -short -timeout 20m ./repo/... ./cache/... ./crypt/... ./notify/... ./metrics/... ./internal/... ./stack/... ./sources/

# A real finding always writes a failing input under testdata/fuzz; the Go
# fuzz engine also fails now and then at the -fuzztime boundary with
# "context deadline exceeded" and nothing written (golang/go#51484), which
# is reported and ignored. The seed corpora are replayed by 'unit' anyway.
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		out=$$($(GO) test -run XXX -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg 2>&1) && continue; \
		if echo "$$out" | grep -q "Failing input written to" || ! echo "$$out" | grep -qE "context deadline exceeded|hung or terminated unexpectedly"; then \
			echo "$$out"; exit 1; \
		fi; \
		echo "  (fuzz engine stopped at the time limit without a failing input, golang/go#51484: ignored)"; \
	done

# The long kill -9 loop (CI runs 10 iterations as part of make test).
crash:
	SNAP_KILL_ITERATIONS=100 $(GO) test -count=1 -run Kill9 -v -timeout 60m ./cmd/snap

# Benchmark against borg, restic 0.14 and 0.18.1 and kopia on every shape
# (bench/README.md): medians of 3, tables in BENCH_DIR/report.md. About
# 25 minutes on 2 cores; bench-small is the same in about 6.
BENCH_DIR ?= /var/tmp/snap-bench
bench: deps
	./bench/tools.sh
	$(GO) run ./bench/gen -out $(BENCH_DIR) -seed 1
	$(GO) run ./bench/run -work $(BENCH_DIR) -runs 3 -snap-key-file
	$(GO) test -run XXX -bench . -count 5 ./repo/

bench-small: deps
	./bench/tools.sh
	$(GO) run ./bench/gen -out $(BENCH_DIR)-small -seed 1 -small
	$(GO) run ./bench/run -work $(BENCH_DIR)-small -runs 3 -snap-key-file

demo: build
	./scripts/demo.sh

clean:
	rm -f snap
