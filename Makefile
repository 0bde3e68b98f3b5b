# piecepay — entry points. `make test` is the README's test command and what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# The native binary: the npm package's launcher (node_modules/.bin/forge, @foundry-rs/forge 1.7.1) never passes
# on the binary's exit status, so through it a failing `forge test` exits 0 (contracts/tools/*.sh call the
# native binary too).
FORGE := $(CURDIR)/contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
# CI=true selects the deep fuzz/invariant profile (contracts/foundry.toml).
export FOUNDRY_PROFILE ?= $(if $(filter true,$(CI)),ci,default)

.PHONY: help setup setup-toolchain setup-torrent setup-deluge setup-lint setup-test setup-js check-locks test ci-contracts ci-clients lint header format-cpp \
	openapi test-contracts test-symbolic test-symbolic-ci slither test-rust test-torrent test-js deluge-plugin test-deluge bench-gas bench-sdk bench-agent \
	bench-relayer bench-torrent bench-js bench-deluge demo devnet services eip712-fixture wire-vectors

help:
	@echo "make demo            the main job: devnet, relayer, torrent clients with their own agents paying per piece, closes, summary"
	@echo "                     (HARDFORK=berlin CHAIN_ID=1029: on a chain like BTTC, without EIP-1559/PUSH0/TSTORE)"
	@echo "make test            every test: lint, forge (unit, fuzz, invariant), halmos, slither, cargo, libtorrent, Deluge, JS"
	@echo "make ci-contracts    make test's first half: locks, lint, forge, halmos, slither (make ci-clients: the rest)"
	@echo "make devnet          a local chain with the contracts, funded accounts and a relayer (Ctrl-C stops;"
	@echo "                     HARDFORK=… CHAIN_ID=… as for make demo)"
	@echo "make test-symbolic   halmos: the assembly settle loop against a plain-Solidity reference (bounded; docs/contracts.md)"
	@echo "make test-symbolic-ci  the part of it make test runs: one receipt, and two receipts of one channel"
	@echo "make bench-gas       gas per settlement/open/close/onboarding on a local anvil (current build, then legacy on berlin)"
	@echo "make bench-sdk       SDK sign/verify/durable-save latency (ns per op)"
	@echo "make bench-agent     how long a client agent takes to resume 1,000 stored channels"
	@echo "make bench-relayer   relayer ingest throughput (SQLite, PostgreSQL), recovery ceiling, p99 latency"
	@echo "make bench-torrent   libtorrent loopback throughput with payments on and off"
	@echo "make bench-deluge    two deluged on loopback with the piecepay plugin, paid vs free throughput"
	@echo "make deluge-plugin   the Deluge 2 plugin: client-sdk/integrations/deluge/build/Piecepay-*.egg"
	@echo "make test-torrent    the libtorrent plugin: unit, loopback swarms, stock clients, agent-driven clients on a devnet"
	@echo "make test-deluge     the Deluge plugin's tests with real deluged daemons (part of make test)"
	@echo "make test-js         the JavaScript client (client-sdk/js): unit, WebTorrent on a devnet, libtorrent interop"
	@echo "make bench-js        JavaScript receipt verification, WebTorrent loopback throughput with payments on and off"
	@echo "make eip712-fixture  regenerate contracts/test/fixtures/eip712.json"
	@echo "make wire-vectors    regenerate contracts/test/fixtures/wire-vectors.json (the shared wire test vectors)"
	@echo "make header          regenerate client-sdk/ffi/include/piecepay.h (make lint fails when it drifted)"
	@echo "make openapi         regenerate relayer/openapi.json from the API's Rust types (make lint checks it)"
	@echo "make services        build the relayer and deploy programs (target/debug) as the tests and make devnet run them"
	@echo "make check-locks     the lock files are as their tools write them (part of make test)"
	@echo "make format-cpp      format the C++ of the integrations (.clang-format; make lint checks it)"
	@echo "make setup           install everything the tests need (setup-toolchain, setup-torrent, setup-deluge, setup-test, setup-js)"

# What each command needs, installed when missing (pinned, from the registries; see README "Prerequisites"):
#   setup-toolchain  Foundry, solc-js, OpenZeppelin, forge-std (npm ci from contracts/package-lock.json)
#   setup-torrent    libtorrent 2.0 and two foreign torrent clients (Debian)
#   setup-deluge     Deluge 2.0.3 and python3-libtorrent, boost.python, Chromium (Debian); pytest, deluge-client,
#                    selenium (PyPI) for the Deluge plugin's tests (`make deluge-plugin` needs only the first ones)
#   setup-lint       clang-format, the C++ format check of `make lint` (Debian)
#   setup-test       PostgreSQL's server (the tests start their own from its binaries), promtool (Debian's
#                    prometheus) and systemd-analyze for the relayer's ops kit, and slither (PyPI)
#   setup-js         the JavaScript client's packages (npm ci from client-sdk/js/package-lock.json)
# `make demo` needs only the first two, so a newcomer's first result does not wait for the rest.
setup-toolchain:
	contracts/tools/install-toolchain.sh

setup-torrent:
	client-sdk/integrations/libtorrent/setup.sh

setup-deluge:
	client-sdk/integrations/deluge/setup.sh --tests
	contracts/tools/install-venv.sh deluge-tests

setup-lint:
	deploy/tools/apt-install.sh "the C++ format check" clang-format

setup-test: setup-toolchain setup-torrent setup-deluge setup-lint
	deploy/tools/apt-install.sh "the relayer's PostgreSQL tests" postgresql
	deploy/tools/apt-install.sh "the relayer's operator kit tests (promtool, systemd-analyze)" prometheus systemd
	contracts/tools/install-venv.sh slither

# npm ci with install scripts off: WebTorrent 1.x's optional native modules (uTP, WebRTC) are not used,
# and nothing is fetched beyond the registry. Redone only when the lock changes.
JS := client-sdk/js
setup-js: $(JS)/node_modules/.piecepay-lock

$(JS)/node_modules/.piecepay-lock: $(JS)/package-lock.json
	cd $(JS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp $(JS)/package-lock.json $@

setup: setup-test setup-js

test: ci-contracts ci-clients

# make test's two halves, each complete from a fresh clone, for a CI that runs them as two jobs (`.ci/run
# ci-contracts`, `.ci/run ci-clients`): about half of make test's time each. test-torrent first: it builds
# the libtorrent program that an end-to-end cargo test drives.
ci-contracts: setup check-locks lint test-contracts test-symbolic-ci slither
ci-clients: setup test-torrent test-rust test-js test-deluge

# The lock files are in the form their tools write them: a lock that drifted from its manifest (or from
# what the registry now serves) fails here with the file named, not in a newcomer's first command.
check-locks: setup-toolchain
	deploy/tools/check-locks.sh

# The C++ that is ours (the integrations; not the generated C header) in the style of .clang-format.
CPP_SOURCES = git ls-files -- 'client-sdk/integrations/*.cpp' 'client-sdk/integrations/*.hpp'

lint: setup-toolchain setup-lint header
	@# forge 1.7.1's fmt --check prints the diffs but exits 0: any output is a failure.
	cd contracts && out="$$($(FORGE) fmt --check src test script evm 2>&1)"; status=$$?; [ $$status -eq 0 ] && [ -z "$$out" ] \
	  || { printf '%s\n' "$$out" | head -40 >&2; echo "lint: contracts/ is not as forge fmt writes it: run forge fmt in contracts/ and commit" >&2; exit 1; }
	cargo fmt --all --check
	$(CPP_SOURCES) | xargs clang-format --dry-run --Werror
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps --locked -q
	git diff --exit-code -- client-sdk/ffi/include || \
		{ echo "lint: client-sdk/ffi/include/ differs from what cbindgen generates: run make header and commit it" >&2; exit 1; }
	$(MAKE) --no-print-directory openapi
	git diff --exit-code -- relayer/openapi.json \
	  || { echo "lint: relayer/openapi.json is not what the types generate; commit the regenerated file" >&2; exit 1; }

# The C header is generated from the C ABI's Rust items (never edited by hand, never by a build script).
header:
	cargo run --locked -q -p piecepay-ffi --features header --bin piecepay-ffi-header

format-cpp: setup-lint
	$(CPP_SOURCES) | xargs clang-format -i

# The forge suite (unit, fuzz, invariant, EIP-712 fixture) on the current build, then on the legacy build
# (berlin; docs/contracts.md "EVM generations") at the default fuzz depth even under CI=true (CI's time
# budget), then the check that the legacy code has no post-Berlin opcode and the current ABI.
test-contracts: setup-toolchain
	cd contracts && $(FORGE) test
	cd contracts && FOUNDRY_PROFILE=legacy $(FORGE) test
	contracts/tools/check-legacy-build.py

slither: setup-test
	contracts/tools/slither.sh

# Symbolic equivalence of settleBatch's assembly loop and test/symbolic/SettleReference.sol (bounds in
# docs/contracts.md, "Symbolic check"). After test-contracts it compiles nothing (it reads that build's out/;
# run alone on a fresh clone, halmos's forge build compiles everything first). `make test` runs the checks
# that fit its time, test-symbolic-ci: one receipt, and two receipts of one channel (the first settling, the
# carried state); the fee rule and the general two-receipt shapes take longer.
test-symbolic: setup-toolchain
	contracts/tools/install-venv.sh halmos
	contracts/tools/symbolic.sh

test-symbolic-ci: setup-toolchain
	contracts/tools/install-venv.sh halmos
	contracts/tools/symbolic.sh --function 'check_(oneReceipt|sameChannelTwice)'

# The end-to-end crate's torrent tests run in test-torrent (they need its libtorrent program); every other
# test of the workspace runs here, a new file in tests/tests/ included, so nothing runs twice.
E2E_TORRENT_TESTS := torrent_agent torrent_cli torrent_policy
E2E_OTHER_TESTS := $(filter-out $(E2E_TORRENT_TESTS),$(basename $(notdir $(wildcard tests/tests/*.rs))))

test-rust: setup-test
	cargo test --workspace --locked --exclude piecepay-e2e
	cargo test --locked -p piecepay-e2e --lib --bins $(E2E_OTHER_TESTS:%=--test %)
	cargo test --locked -p piecepay-e2e --doc

# The libtorrent plugin over the C ABI: unit tests, loopback swarms, interoperability with stock clients;
# then the agent-driven client (`piecepay-torrent serve|download|balance|withdraw|close`) in separate
# processes on a devnet.
test-torrent: setup-toolchain setup-torrent services
	$(MAKE) --no-print-directory -C client-sdk/integrations/libtorrent test
	cargo test --locked -p piecepay-e2e $(E2E_TORRENT_TESTS:%=--test %)

# The Deluge plugin: an egg with its native module, tested inside real deluged daemons.
deluge-plugin:
	client-sdk/integrations/deluge/setup.sh
	$(MAKE) --no-print-directory -C client-sdk/integrations/deluge

test-deluge: setup-toolchain setup-deluge
	$(MAKE) --no-print-directory -C client-sdk/integrations/deluge test

# The JavaScript client: generated ABI and type declarations (npm run build type-checks the sources), unit
# tests, WebTorrent on a devnet (piecepay-devnet, the relayer), interoperability with the libtorrent program.
test-js: setup-js setup-toolchain setup-torrent services
	contracts/tools/build-artifacts.sh
	$(MAKE) --no-print-directory -C client-sdk/integrations/libtorrent
	cd $(JS) && npm run --silent build && npm test

bench-gas: setup-toolchain
	contracts/tools/bench-gas.sh

bench-sdk:
	cargo bench -p piecepay-sdk --bench sdk --locked

# Starts anvil with the contracts (setup-toolchain), fills a store with 1,000 channels, times the resume.
bench-agent: setup-toolchain
	cargo bench -p piecepay-agent --bench resume --locked

bench-relayer: setup-test
	cargo bench -p piecepay-relayer --bench ingest --locked

bench-torrent: setup-toolchain setup-torrent
	$(MAKE) -s --no-print-directory -C client-sdk/integrations/libtorrent bench

bench-deluge: setup-toolchain setup-deluge
	$(MAKE) -s --no-print-directory -C client-sdk/integrations/deluge bench

bench-js: setup-js
	cd $(JS) && node bench/bench.js

eip712-fixture: setup-toolchain
	cd contracts && $(FORGE) script script/WriteEip712Fixture.s.sol -q

# The relayer and deploy programs that the tests, the devnet and the OpenAPI document run, built by one
# package set everywhere: cargo resolves features per invocation, and each other set rebuilt alloy's, sqlx's
# and axum's feature variants (86 s of a CI run's test-js step). The Deluge plugin's tests build this set too.
SERVICES := -p piecepay-relayer -p piecepay-deploy
services:
	cargo build --locked $(SERVICES)

# The relayer's OpenAPI document, generated from the API's Rust types (schemars) by the binary that serves it.
openapi: services
	target/debug/piecepay-relayer openapi > relayer/openapi.json.tmp
	mv relayer/openapi.json.tmp relayer/openapi.json

# The wire codec's test vectors, written by the test that checks them (client-sdk/wire/tests/vectors.rs).
wire-vectors:
	PIECEPAY_WRITE_VECTORS=1 cargo test -p piecepay-wire --test vectors --locked

# `make demo HARDFORK=berlin CHAIN_ID=1029` (either alone too): the devnet's anvil runs that hardfork and
# chain id; the deploy tool then picks the build and the transaction type that chain takes (docs/deploy.md).
CHAIN_ARGS = $(if $(HARDFORK),--hardfork $(HARDFORK)) $(if $(CHAIN_ID),--chain-id $(CHAIN_ID))

devnet: setup-toolchain services
	target/debug/piecepay-devnet --relayer-bin target/debug/piecepay-relayer $(CHAIN_ARGS)

# The demo builds in the dev profile (optimised dependencies, see Cargo.toml) that `make test` reuses.
demo: setup-toolchain setup-torrent
	cargo build --locked -p piecepay-relayer -p piecepay-e2e
	$(MAKE) --no-print-directory -C client-sdk/integrations/libtorrent
	target/debug/piecepay-demo $(CHAIN_ARGS)
