# hyp — Hide Your Ports. `make help` lists the targets.

GO        ?= go
BIN       ?= bin
DIST      ?= dist
FUZZTIME  ?= 10s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

# The CLI is pure Go and must build for every CPU a gateway user or a client might have.
CROSS := linux/amd64 linux/arm64 linux/arm linux/mips linux/mipsle linux/ppc64le linux/s390x \
         linux/riscv64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64 freebsd/amd64

.PHONY: help build test fuzz lint cross generate check-generate cli-docs package demo bench bench-hypd clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# bin/hyp-tray is cgo (Fyne on GLFW): built only when the C compiler, pkg-config and every X/GL
# header and pkg-config module it needs are here (the "tray" lines of HYP_TOOLS in .ci/lib.sh,
# the list .ci installs); otherwise the CLIs are built and the missing Debian
# packages named.
build: ## build bin/hyp, bin/hypd (and bin/hyp-tray when its cgo deps are installed)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hyp ./app/cmd/hyp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hypd ./daemon
	@if [ -d app/cmd/hyp-tray ]; then \
		missing=$$(bash -c '. .ci/lib.sh && hyp_missing tray' | tr '\n' ' '); \
		if [ -z "$$missing" ]; then \
			echo $(GO) build -trimpath -o $(BIN)/hyp-tray ./app/cmd/hyp-tray; \
			$(GO) build -trimpath -o $(BIN)/hyp-tray ./app/cmd/hyp-tray; \
		else echo "skipping bin/hyp-tray (cgo: Fyne needs C headers that are missing): sudo apt-get install $$missing"; fi; fi

test: ## run the whole test suite (as root: eBPF, nftables, network namespaces)
	bash .ci/test

fuzz: ## run every Go fuzz target for FUZZTIME each (default 10s; as root: some parse kernel messages)
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz

lint: ## gofmt, go mod tidy -diff, go vet for linux, windows, macOS and FreeBSD, staticcheck (linux, windows), the layering test
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) mod tidy -diff
	$(GO) vet ./...
	GOOS=windows CGO_ENABLED=0 $(GO) vet ./...
	@# macOS and FreeBSD get the CLI (profiles in the Keychain through go-keyring), not the cgo tray.
	GOOS=darwin CGO_ENABLED=0 $(GO) vet $$($(GO) list ./... | grep -v -e /app/ui -e /app/cmd/hyp-tray)
	GOOS=freebsd CGO_ENABLED=0 $(GO) vet $$($(GO) list ./... | grep -v -e /app/ui -e /app/cmd/hyp-tray)
	@# staticcheck is pinned in go.mod (go tool): what review would catch that vet does not. Unused
	@# code (U1000) is judged on Linux, where every file builds; on Windows the Linux-only callers
	@# are missing. `go tool -n` names the host binary, which then analyses the Windows build.
	$(GO) tool staticcheck ./...
	GOOS=windows CGO_ENABLED=0 $$($(GO) tool -n staticcheck) -checks inherit,-U1000 ./...
	@# The layers (core imports nothing of ours, daemon and app never each other), for linux and windows.
	$(GO) test -count=1 ./internal/layering/

cross: ## build the hyp CLI for every supported OS/CPU (Linux, Windows, macOS, FreeBSD) into dist/
	@mkdir -p $(DIST)
	@set -e; for t in $(CROSS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=$(DIST)/hyp-$$os-$$arch$$ext; echo "  $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./app/cmd/hyp; \
	done

generate: ## regenerate the BPF objects with bpf2go (needs clang and llvm; the headers are in bpf/include)
	$(GO) generate ./bpf/

check-generate: generate ## regenerate and fail if the committed BPF objects differ
	git diff --exit-code -- bpf/

cli-docs: ## regenerate the man pages and shell completions from the command tables
	$(GO) run ./app/cmd/hyp man >packaging/hyp.1
	$(GO) run ./daemon man >packaging/hypd.8
	@set -e; for p in hyp hypd; do \
		pkg=./daemon; [ $$p = hyp ] && pkg=./app/cmd/hyp; \
		$(GO) run $$pkg completion bash >packaging/completions/$$p.bash; \
		$(GO) run $$pkg completion zsh >packaging/completions/_$$p; \
		$(GO) run $$pkg completion fish >packaging/completions/$$p.fish; \
	done

package: ## build release packages into dist/ (slow: cgo, cross builds)
	bash .ci/package

demo: build ## run the gateway demo in throwaway network namespaces (root)
	bash .ci/demo

bench: ## run the benchmarks and the comparison with knockd and fwknop (writes docs/bench.md)
	bash .ci/bench

bench-hypd: ## hypd's goals alone (issue #20), at 10 and 100,000 keys, into /tmp/hyp-bench.md
	HYP_BENCH_QUICK=1 bash .ci/bench

.PHONY: fresh-check
fresh-check: ## run the README's commands in a fresh minimal Debian 12 chroot (root; 30 to 50 min)
	bash .ci/fresh-root

clean: ## remove build output
	rm -rf $(BIN) $(DIST) .cache/tray app/.cache
