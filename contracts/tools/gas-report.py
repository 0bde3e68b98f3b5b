#!/usr/bin/env python3
"""Prints the gas benchmark lines from the receipts of a GasBench broadcast (forge's run-latest.json).

Usage: gas-report.py RUN_JSON CAST [LABEL]. A LABEL (the legacy build's `legacy`) goes after `gas` in
every line: `gas legacy settle_batch size=200 per_receipt=G`.

gasUsed is what each transaction really paid: the 21,000 base, calldata and execution. Every figure is
checked against the events in its receipt, so a batch that silently skipped receipts cannot pass.
"""
import json
import subprocess
import sys


def topic(signature: str) -> str:
    cast = sys.argv[2]
    return subprocess.check_output([cast, "keccak", signature], text=True).strip().lower()


def main() -> None:
    run = json.load(open(sys.argv[1]))
    prefix = f"gas {sys.argv[3]} " if len(sys.argv) > 3 else "gas "
    receipts = {r["transactionHash"]: r for r in run["receipts"]}
    txs = run["transactions"]
    for tx in txs:
        if int(receipts[tx["hash"]]["status"], 16) != 1:
            sys.exit(f"gas-report: transaction {tx['hash']} ({tx.get('function')}) reverted")

    def calls(prefix):
        return [receipts[t["hash"]] for t in txs if (t.get("function") or "").startswith(prefix)]

    def gas(receipt) -> int:
        return int(receipt["gasUsed"], 16)

    def count(receipt, signature) -> int:
        t = topic(signature)
        return sum(1 for log in receipt["logs"] if log["topics"][0].lower() == t)

    def settled_receipts(receipt) -> int:
        # ReceiptsSettled's data: the offset and length of `settlements`, then its groups, each a 54-byte
        # header payee (20) ‖ credited (16) ‖ fee (16) ‖ count (2) and `count` 36-byte entries.
        t = topic("ReceiptsSettled(bytes)")
        total = 0
        for log in receipt["logs"]:
            if log["topics"][0].lower() != t:
                continue
            data = bytes.fromhex(log["data"][2:])
            settlements = data[64 : 64 + int.from_bytes(data[32:64], "big")]
            at = 0
            while at < len(settlements):
                count = int.from_bytes(settlements[at + 52 : at + 54], "big")
                total += count
                at += 54 + 36 * count
            if at != len(settlements):
                sys.exit("gas-report: ReceiptsSettled settlements that are not whole groups")
        return total

    settles = calls("settleBatch(")
    sizes = [1, 10, 50, 200]
    if len(settles) != 2 * len(sizes):
        sys.exit(f"gas-report: expected {2 * len(sizes)} settleBatch transactions, found {len(settles)}")
    for i, n in enumerate(sizes):
        measured = settles[2 * i + 1]
        settled = settled_receipts(measured)
        if settled != n or count(measured, "ReceiptSkipped(bytes32,uint8)") != 0:
            sys.exit(f"gas-report: settle batch of {n} settled {settled} receipts")
        print(f"{prefix}settle_batch size={n} per_receipt={gas(measured) // n}")

    opens = calls("openChannelsBySig(")[-1]
    opened = count(opens, "ChannelOpened(bytes32,address,address,uint32,uint96,uint96)")
    if opened != 100:
        sys.exit(f"gas-report: open batch opened {opened} channels, expected 100")
    print(f"{prefix}open_by_sig size=100 per_channel={gas(opens) // 100}")

    (close,) = calls("cooperativeClose(")
    if count(close, "ChannelClosed(bytes32,uint96,uint96)") != 1:
        sys.exit("gas-report: cooperative close did not close")
    print(f"{prefix}cooperative_close {gas(close)}")

    (permit,) = calls("depositWithPermit(")
    if count(permit, "Deposited(address,address,uint256)") != 1:
        sys.exit("gas-report: depositWithPermit did not deposit")
    print(f"{prefix}deposit_with_permit {gas(permit)}")

    (withdraw,) = calls("withdraw(")
    if count(withdraw, "Withdrawn(address,address,uint256,uint256)") != 1:
        sys.exit("gas-report: withdraw did not withdraw")
    print(f"{prefix}withdraw {gas(withdraw)}")

    onboard, add_funds = calls("fundChannelsWithPermit(")
    if count(onboard, "ChannelOpened(bytes32,address,address,uint32,uint96,uint96)") != 1:
        sys.exit("gas-report: fundChannelsWithPermit did not open the first channel")
    print(f"{prefix}onboard_first_channel {gas(onboard)}")
    if count(add_funds, "ChannelToppedUp(bytes32,uint96,uint96)") != 1:
        sys.exit("gas-report: fundChannelsWithPermit did not top the channel up")
    print(f"{prefix}top_up_with_permit {gas(add_funds)}")


if __name__ == "__main__":
    main()
