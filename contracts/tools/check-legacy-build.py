#!/usr/bin/env python3
"""Checks that the legacy build's contracts run on an EVM before Shanghai/Cancun and stand in for the current
ones (docs/contracts.md, "EVM generations"): the creation and runtime code of out-legacy/'s ChannelEscrow and
PieceToken contain none of TLOAD (0x5c), TSTORE (0x5d), MCOPY (0x5e), PUSH0 (0x5f), and their ABIs are the
current build's (out/), which the SDK's bindings are generated from. Run by `make test-contracts` after the
forge suites have built out/ and out-legacy/.

The code is walked as the EVM decodes it: PUSH1..PUSH32 data is skipped, and solc's CBOR metadata trailer
(its length is the code's last two bytes) is not code. The walker is checked first on hand-made code, and
on the current build (out/), whose escrow must show TLOAD, TSTORE and PUSH0: a walker that saw nothing
would pass every contract.
"""
import json
import sys
from pathlib import Path

FORBIDDEN = {0x5C: "TLOAD", 0x5D: "TSTORE", 0x5E: "MCOPY", 0x5F: "PUSH0"}
PUSH1, PUSH32 = 0x60, 0x7F
CONTRACTS = ["ChannelEscrow", "PieceToken"]
ROOT = Path(__file__).resolve().parent.parent


def strip_metadata(code: bytes) -> bytes:
    """The code without solc's CBOR metadata trailer (absent when its length does not fit)."""
    if len(code) < 2:
        return code
    length = int.from_bytes(code[-2:], "big")
    # The trailer is a CBOR map (major type 5: 0xa0..0xbf) of `length` bytes followed by the length itself.
    if length + 2 <= len(code) and 0xA0 <= code[-2 - length] <= 0xBF:
        return code[: -2 - length]
    return code


def forbidden_opcodes(code: bytes) -> list[tuple[int, str]]:
    """(offset, name) of every forbidden opcode in `code`, PUSH data skipped."""
    found = []
    pc = 0
    while pc < len(code):
        op = code[pc]
        if op in FORBIDDEN:
            found.append((pc, FORBIDDEN[op]))
        pc += 1 + (op - PUSH1 + 1 if PUSH1 <= op <= PUSH32 else 0)
    return found


def self_test() -> None:
    # PUSH1 0x5f; PUSH2 0x5c5d; a trailer whose bytes would read as PUSH0: nothing is an opcode.
    assert forbidden_opcodes(strip_metadata(bytes.fromhex("605f615c5d00" + "a15f5f" + "0003"))) == []
    # Each forbidden opcode where an opcode is; PUSH32 skips exactly 32 bytes.
    code = bytes.fromhex("5c" + "5d" + "5e" + "7f" + "5f" * 32 + "5f")
    assert forbidden_opcodes(code) == [(0, "TLOAD"), (1, "TSTORE"), (2, "MCOPY"), (36, "PUSH0")], code.hex()
    # A truncated PUSH at the end is data, as the EVM reads it.
    assert forbidden_opcodes(bytes.fromhex("615f")) == []


def artifact(out: str, contract: str) -> dict:
    path = ROOT / out / f"{contract}.sol" / f"{contract}.json"
    try:
        return json.loads(path.read_text())
    except OSError as e:
        sys.exit(f"check-legacy-build: cannot read {path}: {e.strerror} (run contracts/tools/build-artifacts.sh)")


def codes(out: str, contract: str) -> dict[str, bytes]:
    built = artifact(out, contract)
    result = {}
    for kind, key in (("creation", "bytecode"), ("runtime", "deployedBytecode")):
        hex_code = built[key]["object"].removeprefix("0x")
        if not hex_code:
            sys.exit(f"check-legacy-build: {out}/{contract} has no {kind} code")
        result[kind] = strip_metadata(bytes.fromhex(hex_code))
    return result


def abi_entries(out: str, contract: str) -> set[str]:
    return {json.dumps(entry, sort_keys=True) for entry in artifact(out, contract)["abi"]}


def main() -> None:
    self_test()
    current = forbidden_opcodes(codes("out", "ChannelEscrow")["runtime"])
    seen = {name for _, name in current}
    if not {"TLOAD", "TSTORE", "PUSH0"} <= seen:
        sys.exit(f"check-legacy-build: the current escrow (out/) shows only {sorted(seen)}: the walker is broken")

    failures = []
    for contract in CONTRACTS:
        current_abi, legacy_abi = abi_entries("out", contract), abi_entries("out-legacy", contract)
        if current_abi != legacy_abi:
            differ = sorted(current_abi ^ legacy_abi)
            failures.append(f"{contract}'s ABI differs from out/'s in {len(differ)} entries, e.g. {differ[0]}")
        for kind, code in codes("out-legacy", contract).items():
            found = forbidden_opcodes(code)
            if found:
                where = ", ".join(f"{name} at {pc:#x}" for pc, name in found[:5])
                failures.append(f"{contract}'s {kind} code has {len(found)} opcode(s) a Berlin EVM lacks: {where}")
            else:
                print(f"check-legacy-build: {contract} {kind} code ({len(code)} bytes): no TLOAD/TSTORE/MCOPY/PUSH0")
    for line in failures:
        print(f"check-legacy-build: out-legacy/{line}", file=sys.stderr)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
