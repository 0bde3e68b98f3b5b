//! What the agent reports: spend and earnings per torrent and per peer (a query, [`Report`]), and what
//! happens as it happens (an event stream, [`Event`]). Both serialize to JSON, which is what the C ABI
//! hands out; amounts are decimal strings there (they exceed 2^53).

use piecepay_protocol::{
    Amount,
    alloy_primitives::{Address, B256, hex},
    amount::decimal,
};
use std::collections::{BTreeSet, HashMap};

use piecepay_sdk::{PayeeState, PayerState, session::SessionState};
use serde::{Serialize, Serializer};

use crate::{
    ledger::InfoHash,
    shared::{Inner, State},
};

/// Everything the agent knows of its money, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// This agent's account.
    pub address: Address,
    /// The chain id.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// Balances of the account.
    pub wallet: WalletReport,
    /// What this agent paid, in all (the highest receipts signed).
    #[serde(with = "decimal")]
    pub spent: Amount,
    /// What this agent was paid, in all (the highest receipts accepted).
    #[serde(with = "decimal")]
    pub earned: Amount,
    /// Per torrent.
    pub torrents: Vec<TorrentReport>,
    /// Per channel, i.e. per peer and role.
    pub peers: Vec<PeerReport>,
}

/// The account's balances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WalletReport {
    /// Its free balance in the escrow: what it can withdraw (or open channels from). `null` without an
    /// RPC node.
    #[serde(serialize_with = "opt_decimal")]
    pub withdrawable: Option<Amount>,
    /// Its tokens outside the escrow. `null` without an RPC node.
    #[serde(serialize_with = "opt_decimal")]
    pub tokens: Option<Amount>,
    /// Deposits locked in its channels as payer and not yet paid out (returned when they close).
    #[serde(with = "decimal")]
    pub locked: Amount,
    /// Paid to it and not yet settled on chain.
    #[serde(with = "decimal")]
    pub pending: Amount,
}

/// One torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TorrentReport {
    /// The info-hash, hex.
    #[serde(serialize_with = "hex20")]
    pub info_hash: [u8; 20],
    /// Pieces this agent paid for.
    pub pieces_paid: u64,
    /// What it paid for them (exact: recorded with each receipt).
    #[serde(with = "decimal")]
    pub spent: Amount,
    /// Pieces it served to paying peers.
    pub pieces_served: u64,
    /// Their value at the agreed prices.
    #[serde(with = "decimal")]
    pub served: Amount,
    /// What its payers paid for this torrent's pieces: each channel's paid total shared among its
    /// torrents in proportion to what they were served.
    #[serde(with = "decimal")]
    pub earned: Amount,
    /// The part of `earned` settled on chain (shared the same way).
    #[serde(with = "decimal")]
    pub settled: Amount,
}

/// One channel: this agent and one peer, in one role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerReport {
    /// `payer` (this agent pays the peer) or `payee` (the peer pays this agent).
    pub role: &'static str,
    /// The peer's account.
    pub peer: Address,
    /// The channel.
    pub channel_id: B256,
    /// `negotiating`, `proposed`, `opening`, `open`, `closing` or `closed`.
    pub state: &'static str,
    /// The price per piece agreed.
    #[serde(with = "decimal")]
    pub price: Amount,
    /// The channel's deposit.
    #[serde(with = "decimal")]
    pub deposit: Amount,
    /// The highest receipt: signed (payer) or accepted (payee).
    #[serde(with = "decimal")]
    pub paid: Amount,
    /// What the chain settled on the channel.
    #[serde(with = "decimal")]
    pub settled: Amount,
    /// `paid − settled`: the payee's to collect.
    #[serde(with = "decimal")]
    pub pending: Amount,
    /// Payer: the deposit not paid out yet (while the channel is not closed). Payee: zero.
    #[serde(with = "decimal")]
    pub locked: Amount,
    /// Pieces paid (payer) or served (payee).
    pub pieces: u64,
    /// The peer's connections attached now (their labels, as the host gave them).
    pub connections: Vec<String>,
}

/// Something that happened, for a UI or a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// Unix time.
    pub at: u64,
    /// What.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened. Per-piece traffic is not an event (see the [`Report`]); state changes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The agent is running.
    Started {
        /// Its account.
        address: Address,
        /// Channels resumed from the store.
        channels: usize,
    },
    /// A relayer did not answer (at start-up, or when the agent needed it).
    RelayerUnavailable {
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Payer: a channel is being funded.
    ChannelOpening {
        /// The payee.
        payee: Address,
        /// The channel.
        channel_id: B256,
        /// Its deposit.
        #[serde(with = "decimal")]
        deposit: Amount,
        /// `relayer` (gasless) or `chain` (a transaction of this account).
        via: &'static str,
    },
    /// Payer: the chain shows the channel funded.
    ChannelOpened {
        /// The payee.
        payee: Address,
        /// The channel.
        channel_id: B256,
        /// Its deposit.
        #[serde(with = "decimal")]
        deposit: Amount,
    },
    /// Payer: a channel could not be funded (it will be tried again on the payee's next terms).
    FundingFailed {
        /// The payee.
        payee: Address,
        /// A stable code.
        code: String,
        /// Why, for humans.
        message: String,
    },
    /// Payer: a channel's deposit was raised.
    ToppedUp {
        /// The channel.
        channel_id: B256,
        /// The new deposit.
        #[serde(with = "decimal")]
        deposit: Amount,
    },
    /// Payer: a payee's terms were not taken.
    TermsRefused {
        /// The payee.
        payee: Address,
        /// A stable code (`price_above_max`, `terms_mismatch`, `over_budget`).
        code: String,
    },
    /// Payer: a budget ran out; pieces are no longer paid for (the payees will choke).
    BudgetExhausted {
        /// `total` or `torrent`.
        scope: &'static str,
        /// The torrent, for a per-torrent budget.
        #[serde(serialize_with = "opt_hex20")]
        info_hash: Option<[u8; 20]>,
    },
    /// Payee: a peer's channel was found funded on chain; it is served on it.
    ChannelChecked {
        /// The payer.
        payer: Address,
        /// The channel.
        channel_id: B256,
        /// The deposit the chain shows.
        #[serde(with = "decimal")]
        deposit: Amount,
    },
    /// Payee: a peer's claimed channel is not funded on chain; it is not served on it.
    ChannelRefused {
        /// The payer.
        payer: Address,
        /// The channel.
        channel_id: B256,
        /// What the chain shows.
        reason: String,
    },
    /// Payee: receipts handed to a relayer.
    ReceiptHanded {
        /// The channel.
        channel_id: B256,
        /// The cumulative handed.
        #[serde(with = "decimal")]
        cumulative: Amount,
        /// The relayer.
        relayer: String,
    },
    /// Payee: a receipt settled on chain by this agent itself.
    SelfSettled {
        /// The channel.
        channel_id: B256,
        /// The cumulative submitted.
        #[serde(with = "decimal")]
        cumulative: Amount,
        /// The transaction.
        tx: B256,
    },
    /// The chain settled a channel further.
    Settled {
        /// The channel.
        channel_id: B256,
        /// `payer` or `payee`.
        role: &'static str,
        /// Its settled total.
        #[serde(with = "decimal")]
        settled: Amount,
    },
    /// A cooperative close was proposed (payer) or co-signed (payee).
    CloseSigned {
        /// The channel.
        channel_id: B256,
        /// `payer` or `payee`.
        role: &'static str,
        /// The final total.
        #[serde(with = "decimal")]
        cumulative: Amount,
    },
    /// A close started on chain (a challenge window).
    CloseRequested {
        /// The channel.
        channel_id: B256,
        /// `payer` or `payee`.
        role: &'static str,
        /// End of the window.
        closes_at: u64,
    },
    /// A channel closed on chain.
    ChannelClosed {
        /// The channel.
        channel_id: B256,
        /// `payer` or `payee`.
        role: &'static str,
        /// What the payee kept; the rest of the deposit went back to the payer's free balance.
        #[serde(with = "decimal")]
        settled: Amount,
    },
    /// A withdrawal from the free balance.
    Withdrawn {
        /// To whom.
        to: Address,
        /// How much.
        #[serde(with = "decimal")]
        amount: Amount,
        /// The transaction, or the relayer's operation id.
        id: B256,
    },
    /// Something failed in the background (it is retried when that makes sense).
    Error {
        /// A stable code.
        code: String,
        /// Why, for humans.
        message: String,
    },
}

/// The report, from the sessions and the ledgers.
pub(crate) fn build(inner: &Inner) -> Report {
    let state = inner.lock();
    let mut torrents: HashMap<InfoHash, TorrentReport> = HashMap::new();
    let torrent = |torrents: &mut HashMap<InfoHash, TorrentReport>, info_hash: InfoHash| {
        torrents.entry(info_hash).or_insert_with(|| TorrentReport {
            info_hash,
            ..TorrentReport::default()
        });
    };
    for (info_hash, tally) in &state.spent_by_torrent {
        torrent(&mut torrents, *info_hash);
        let t = torrents.get_mut(info_hash).expect("just inserted");
        t.pieces_paid = tally.pieces;
        t.spent = tally.amount;
    }
    let mut peers = Vec::new();
    let mut locked = 0;
    let mut pending = 0;
    let mut earned = 0;
    for (id, payer) in &state.payers {
        let info = payer.session.info();
        let Some(channel) = payer.session.channel() else {
            continue;
        };
        let settled = match channel.state() {
            PayerState::Closed { settled, .. } => *settled,
            _ => 0,
        };
        let open = !matches!(channel.state(), PayerState::Closed { .. });
        let channel_locked = if open {
            info.deposit.saturating_sub(info.paid.min(info.deposit))
        } else {
            0
        };
        locked += channel_locked;
        peers.push(PeerReport {
            role: "payer",
            peer: channel.channel().payee(),
            channel_id: *id,
            state: state_name(info.state),
            price: info.price,
            deposit: info.deposit,
            paid: payer.reserved,
            settled,
            pending: payer.reserved.saturating_sub(settled),
            locked: channel_locked,
            pieces: payer.ledger.values().map(|t| t.pieces).sum(),
            connections: labels(&state, &payer.links),
        });
    }
    for (id, payee) in &state.payees {
        let info = payee.session.info();
        let Some(channel) = payee.session.channel() else {
            continue;
        };
        let settled = match channel.state() {
            PayeeState::Closed { settled, .. } => *settled,
            other => other.account().map_or(0, |a| a.settled),
        };
        earned += info.paid;
        pending += info.paid.saturating_sub(settled);
        let served_total: Amount = payee.served.values().map(|t| t.amount).sum();
        for (info_hash, tally) in &payee.served {
            torrent(&mut torrents, *info_hash);
            let t = torrents.get_mut(info_hash).expect("just inserted");
            t.pieces_served += tally.pieces;
            t.served += tally.amount;
            // Shared in proportion to what each torrent was served (a channel pays for all of them).
            if served_total > 0 {
                t.earned += share(info.paid, tally.amount, served_total);
                t.settled += share(settled, tally.amount, served_total);
            }
        }
        peers.push(PeerReport {
            role: "payee",
            peer: channel.channel().payer(),
            channel_id: *id,
            state: state_name(info.state),
            price: info.price,
            deposit: info.deposit,
            paid: info.paid,
            settled,
            pending: info.paid.saturating_sub(settled),
            locked: 0,
            // From the ledger, like a payer's: the session forgets its books once the channel closed.
            pieces: payee.served.values().map(|t| t.pieces).sum(),
            connections: labels(&state, &payee.links),
        });
    }
    peers.sort_by(|a, b| (a.role, a.channel_id).cmp(&(b.role, b.channel_id)));
    let mut torrents: Vec<_> = torrents.into_values().collect();
    torrents.sort_by_key(|t| t.info_hash);
    Report {
        address: inner.address,
        chain_id: inner.deployment.chain_id,
        escrow: inner.deployment.escrow,
        wallet: WalletReport {
            withdrawable: state.balance,
            tokens: state.tokens,
            locked,
            pending,
        },
        spent: state.spent(),
        earned,
        torrents,
        peers,
    }
}

/// The labels of `links` that are attached.
fn labels(state: &State, links: &BTreeSet<u64>) -> Vec<String> {
    links
        .iter()
        .filter_map(|id| state.links.get(id).map(|l| l.label.clone()))
        .collect()
}

/// `total × part / whole`, without overflow for any amount in the escrow's range.
fn share(total: Amount, part: Amount, whole: Amount) -> Amount {
    total
        .checked_mul(part)
        .map_or_else(|| total / whole * part, |product| product / whole)
}

const fn state_name(state: SessionState) -> &'static str {
    use SessionState as S;
    match state {
        S::Negotiating => "negotiating",
        S::Proposed => "proposed",
        S::Opening => "opening",
        S::Open => "open",
        S::Closing => "closing",
        S::Closed => "closed",
    }
}

fn opt_decimal<S: Serializer>(value: &Option<Amount>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => s.collect_str(value),
        None => s.serialize_none(),
    }
}

fn hex20<S: Serializer>(value: &[u8; 20], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(value))
}

fn opt_hex20<S: Serializer>(value: &Option<[u8; 20]>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => hex20(value, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_never_overflow() {
        assert_eq!(share(10, 1, 4), 2);
        assert_eq!(share(u128::MAX, 3, 4), u128::MAX / 4 * 3);
        assert_eq!(share(0, 5, 7), 0);
    }

    #[test]
    fn reports_and_events_are_json_with_decimal_amounts() {
        let report = Report {
            spent: u128::MAX,
            torrents: vec![TorrentReport {
                info_hash: [0xab; 20],
                ..TorrentReport::default()
            }],
            ..Report::default()
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["spent"], u128::MAX.to_string());
        assert_eq!(json["wallet"]["withdrawable"], serde_json::Value::Null);
        assert_eq!(json["torrents"][0]["info_hash"], "ab".repeat(20));
        let event = EventRecord {
            at: 7,
            event: Event::BudgetExhausted {
                scope: "total",
                info_hash: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"at":7,"type":"budget_exhausted","scope":"total","info_hash":null}"#
        );
    }
}
