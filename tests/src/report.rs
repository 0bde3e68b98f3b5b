//! The run's summary: tables of what was paid, settled and moved, and the main job's last line.

use std::fmt::Write as _;

use crate::run::Outcome;

/// Token base units per whole token (the devnet token has 18 decimals).
const UNIT: f64 = 1e18;

fn tokens(amount: u128) -> String {
    format!("{:.6}", amount as f64 / UNIT)
}

fn signed_tokens(before: u128, after: u128) -> String {
    if after >= before {
        format!("+{}", tokens(after - before))
    } else {
        format!("-{}", tokens(before - after))
    }
}

/// The summary tables, for a terminal.
pub fn tables(outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\npieces paid per pair ({} pieces in the file)",
        outcome.pieces
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<9} {:>7} {:>9} {:>14} {:>14}",
        "leecher", "seeder", "pieces", "receipts", "paid", "settled"
    );
    for p in &outcome.pairs {
        let _ = writeln!(
            out,
            "  {:<10} {:<9} {:>7} {:>9} {:>14} {:>14}",
            p.leecher,
            p.seeder,
            p.pieces,
            p.receipts,
            tokens(p.paid),
            tokens(p.settled)
        );
    }
    let _ = writeln!(out, "\nsettlement transactions");
    let _ = writeln!(out, "  {:<68} {:>7} {:>9}", "hash", "block", "gas");
    for s in &outcome.settlements {
        let _ = writeln!(out, "  {:<68} {:>7} {:>9}", s.hash, s.block, s.gas_used);
    }
    let _ = writeln!(
        out,
        "\nbalances (tokens; escrow = free balance in the escrow)"
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<44} {:>14} {:>14} {:>14} {:>14}",
        "peer", "address", "token before", "token Δ", "escrow before", "escrow Δ"
    );
    for (name, address, before, after) in &outcome.balances {
        let _ = writeln!(
            out,
            "  {:<10} {:<44} {:>14} {:>14} {:>14} {:>14}",
            name,
            address,
            tokens(before.token),
            signed_tokens(before.token, after.token),
            tokens(before.escrow),
            signed_tokens(before.escrow, after.escrow)
        );
    }
    for mismatch in &outcome.mismatches {
        let _ = writeln!(out, "MISMATCH: {mismatch}");
    }
    out
}

/// The main job's last line, exactly:
/// `demo: pieces_paid=N receipts=N settlements=N gas_used=N onchain_matches=yes|no`.
pub fn last_line(outcome: &Outcome) -> String {
    format!(
        "demo: pieces_paid={} receipts={} settlements={} gas_used={} onchain_matches={}",
        outcome.pieces_paid(),
        outcome.receipts(),
        outcome.settlements.len(),
        outcome.gas_used(),
        if outcome.onchain_matches { "yes" } else { "no" }
    )
}
