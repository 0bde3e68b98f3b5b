//! The main job's summary: tables of what was paid, settled, closed, withdrawn and left locked, and its
//! last line.

use std::fmt::Write as _;

use crate::job::Outcome;

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
        "\nchannels ({} pieces in the file, {} tokens each; every leecher downloaded in {:.1} s)",
        outcome.pieces,
        tokens(outcome.price),
        outcome.transfer_secs
    );
    let _ = writeln!(
        out,
        "  {:<8} {:<7} {:<19} {:>7} {:>10} {:>10} {:>10} {:>7}",
        "leecher", "seeder", "channel", "pieces", "deposit", "paid", "settled", "state"
    );
    for c in &outcome.channels {
        let id = c.id.to_string();
        let _ = writeln!(
            out,
            "  {:<8} {:<7} {:<19} {:>7} {:>10} {:>10} {:>10} {:>7}",
            c.leecher,
            c.seeder,
            format!("{}…{}", &id[..10], &id[id.len() - 6..]),
            c.pieces,
            tokens(c.deposit),
            tokens(c.paid),
            tokens(c.settled),
            if c.closed { "closed" } else { "open" }
        );
    }
    let _ = writeln!(
        out,
        "\nrelayer settlements ({} receipts; the cooperative closes settled the rest)",
        outcome.receipts_settled
    );
    let _ = writeln!(out, "  {:<68} {:>7} {:>9}", "hash", "block", "gas");
    for s in &outcome.settlements {
        let _ = writeln!(out, "  {:<68} {:>7} {:>9}", s.hash, s.block, s.gas_used);
    }
    let _ = writeln!(
        out,
        "\nbalances (tokens; escrow = free balance in the escrow, after = once every client withdrew)"
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<44} {:>12} {:>12} {:>12} {:>12} {:>10}",
        "account", "address", "wallet", "wallet Δ", "escrow", "escrow Δ", "locked"
    );
    for a in &outcome.accounts {
        let _ = writeln!(
            out,
            "  {:<10} {:<44} {:>12} {:>12} {:>12} {:>12} {:>10}",
            a.name,
            a.address,
            tokens(a.before.token),
            signed_tokens(a.before.token, a.after.token),
            tokens(a.before.escrow),
            signed_tokens(a.before.escrow, a.after.escrow),
            tokens(a.locked)
        );
    }
    let locked: u128 = outcome.accounts.iter().map(|a| a.locked).sum();
    let _ = writeln!(
        out,
        "  still locked in channels: {} tokens; balances add up on chain: {}",
        tokens(locked),
        if outcome.onchain_matches { "yes" } else { "NO" }
    );
    for mismatch in &outcome.mismatches {
        let _ = writeln!(out, "MISMATCH: {mismatch}");
    }
    out
}

/// The main job's last line, exactly: `demo: pieces_paid=N receipts=N settlements=N gas_used=N
/// onchain_matches=yes|no closed=N refunded=yes|no`; `refunded=yes` when every channel was closed and
/// every unspent deposit returned to its leecher's wallet. `receipts` counts the receipts the relayer settled (one receipt pays every piece
/// verified before it, so it is below `pieces_paid`); the closes settle each channel's last one.
pub fn last_line(outcome: &Outcome) -> String {
    let mut line = format!(
        "demo: pieces_paid={} receipts={} settlements={} gas_used={} onchain_matches={}",
        outcome.pieces_paid,
        outcome.receipts_settled,
        outcome.settlements.len(),
        outcome.gas_used(),
        if outcome.onchain_matches { "yes" } else { "no" }
    );
    let _ = write!(
        line,
        " closed={} refunded={}",
        outcome.closed(),
        if outcome.refunded() { "yes" } else { "no" }
    );
    line
}
