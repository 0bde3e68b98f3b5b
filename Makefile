# piecepay — entry points. `make test` is the README's test command and what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

FORGE := $(CURDIR)/contracts/node_modules/.bin/forge
# CI=true selects the deep fuzz/invariant profile (contracts/foundry.toml).
export FOUNDRY_PROFILE ?= $(if $(filter true,$(CI)),ci,default)

.PHONY: help setup setup-system test lint test-contracts slither test-rust test-torrent bench-gas bench-sdk \
	bench-relayer bench-torrent demo devnet eip712-fixture

help:
	@echo "make demo            the main job: devnet, relayer, a paying swarm, settlement on chain, summary"
	@echo "make test            every test: lint, forge (unit, fuzz, invariant), slither, cargo, libtorrent"
	@echo "make devnet          a local chain with the contracts, funded accounts and a relayer (Ctrl-C stops)"
	@echo "make bench-gas       gas per settlement/open/close on a local anvil"
	@echo "make bench-sdk       SDK sign/verify/durable-save latency (ns per op)"
	@echo "make bench-relayer   relayer ingest throughput (SQLite, PostgreSQL), recovery ceiling, p99 latency"
	@echo "make bench-torrent   libtorrent loopback throughput with payments on and off"
	@echo "make eip712-fixture  regenerate contracts/test/fixtures/eip712.json"

# Everything the build and the tests need, installed when missing: Foundry, solc, OpenZeppelin, forge-std
# and slither (pinned, from npm and PyPI), then Debian's packages.
setup: setup-system
	contracts/tools/setup.sh

# Debian packages the tests use for real: PostgreSQL's server (the relayer's tests start their own from
# its binaries, initdb in a temporary directory), libtorrent 2.0 with two foreign torrent clients.
setup-system:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "setup: installing postgresql" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
	client-sdk/integrations/libtorrent/setup.sh

# test-torrent first: it builds the libtorrent program that an end-to-end cargo test drives.
test: setup lint test-contracts slither test-torrent test-rust

lint: setup
	cd contracts && $(FORGE) fmt --check
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-contracts: setup
	cd contracts && $(FORGE) test

slither: setup
	contracts/tools/slither.sh

test-rust: setup
	cargo test --workspace --locked

# The libtorrent plugin over the C ABI: unit tests, loopback swarms, interoperability with stock clients.
test-torrent: setup
	$(MAKE) --no-print-directory -C client-sdk/integrations/libtorrent test

bench-gas: setup
	contracts/tools/bench-gas.sh

bench-sdk:
	cargo bench -p piecepay-sdk --bench sdk --locked

bench-relayer: setup
	cargo bench -p piecepay-relayer --bench ingest --locked

bench-torrent: setup
	$(MAKE) -s --no-print-directory -C client-sdk/integrations/libtorrent bench

eip712-fixture: setup
	cd contracts && $(FORGE) script script/WriteEip712Fixture.s.sol -q

devnet: setup
	cargo build --release --locked -p piecepay-relayer -p piecepay-deploy
	target/release/piecepay-devnet --relayer-bin target/release/piecepay-relayer

demo: setup
	cargo build --release --locked -p piecepay-relayer -p piecepay-e2e
	$(MAKE) --no-print-directory -C client-sdk/integrations/libtorrent
	target/release/piecepay-demo
