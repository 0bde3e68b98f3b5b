//! Seeders and leechers exchanging pieces and the piecepay wire messages through the SDK's sessions.
//!
//! Sans-IO like the SDK: a [`Swarm`] holds one [`PayeeSession`] and one [`PayerSession`] per pair and
//! carries their messages, encoded as on the wire, from one to the other; [`Swarm::step`] moves one piece
//! per leecher (serve decision → bytes → SHA-1 check → receipt → the payee's checks) and returns what
//! happened. Every message goes through the same sessions a torrent client's plugin or the client agent
//! drives (terms → bid → accept → channel → receipts), so this engine exercises the real protocol.
//! Opening channels on chain and handing receipts to the relayer are the caller's.

use std::collections::BTreeMap;

use piecepay_sdk::{
    Actions, Amount, Channel, CreditWindow, Outcome, PayeePolicy, PayeeSession, PayeeSessionConfig,
    PayerConfig, PayerSession, PayerSessionConfig, Refused, Signed, SignedReceipt,
    protocol::{
        Eip712Domain, OpenChannel, SigningKey,
        alloy_primitives::{Address, aliases::U96},
    },
    wire::Message,
};

use crate::content::Content;

/// Why a step could not go on; every variant is a bug in the peers or the SDK, not bad luck.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// A session refused a message or a call that the protocol says is legal here.
    #[error("{peer}: {source}")]
    Sdk {
        /// Which peer and pair.
        peer: String,
        /// What the SDK said.
        source: piecepay_sdk::Error,
    },
    /// A piece that a seeder served failed its hash check.
    #[error("piece {index} from seeder {seeder} failed its SHA-1 check")]
    CorruptPiece {
        /// The piece.
        index: usize,
        /// Who served it.
        seeder: usize,
    },
    /// A payment needed more deposit than the channel has.
    #[error("leecher {leecher} ran out of deposit with seeder {seeder}")]
    OutOfDeposit {
        /// The payer.
        leecher: usize,
        /// The payee.
        seeder: usize,
    },
    /// The sessions did not agree on a channel (no `accept`, or another one than expected).
    #[error("leecher {leecher} and seeder {seeder} agreed on no channel: {why}")]
    NoAgreement {
        /// The payer.
        leecher: usize,
        /// The payee.
        seeder: usize,
        /// What was missing.
        why: &'static str,
    },
}

/// What one [`Swarm::step`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Pieces that passed their hash check: `(leecher, seeder, piece)`.
    pub transferred: Vec<(usize, usize, usize)>,
    /// Receipts the seeders accepted (verified and acknowledged): `(leecher, seeder, cumulative)`.
    pub receipts: Vec<(usize, usize, Amount)>,
    /// Leechers that no seeder would serve this step.
    pub stalled: Vec<usize>,
}

/// One leecher's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Conduct {
    /// Pays for every piece that passes its hash check.
    #[default]
    Pays,
    /// Pays for its first `pieces` pieces, then keeps downloading without paying.
    StopsPayingAfter {
        /// How many pieces it pays for in all.
        pieces: u64,
    },
}

/// What passed between one leecher and one seeder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairStats {
    /// Pieces served and passed.
    pub pieces: u64,
    /// Receipts the leecher signed for the seeder (one per paid piece here; the seeder verifies them
    /// lazily and accepts the newest of several at once).
    pub receipts: u64,
    /// The highest cumulative the seeder accepted.
    pub paid: Amount,
}

/// One channel, both ends.
struct Pair {
    channel: Channel,
    payer: PayerSession,
    payee: PayeeSession,
}

struct Leecher {
    key: SigningKey,
    conduct: Conduct,
    have: Vec<bool>,
    paid_pieces: u64,
}

/// A swarm: every seeder has the whole [`Content`]; every leecher has a channel to every seeder.
pub struct Swarm {
    content: Content,
    seeders: usize,
    leechers: Vec<Leecher>,
    pairs: BTreeMap<(usize, usize), Pair>,
    stats: BTreeMap<(usize, usize), PairStats>,
}

fn sdk(leecher: usize, seeder: usize) -> impl Fn(piecepay_sdk::Error) -> SwarmError {
    move |source| SwarmError::Sdk {
        peer: format!("leecher {leecher} → seeder {seeder}"),
        source,
    }
}

fn refused(leecher: usize, seeder: usize) -> impl Fn(Box<Refused>) -> SwarmError {
    move |refused| sdk(leecher, seeder)(refused.error)
}

/// A message as it crosses the wire: encoded by one side, decoded by the other.
fn over_the_wire(message: &Message) -> Vec<u8> {
    message
        .encode()
        .expect("sessions only build messages in range")
}

impl Swarm {
    /// A swarm sharing `content` between `seeders` and `leechers` (with their conduct). Every pair
    /// negotiates over the wire — the seeder's `terms` at `price` with `credit` extended, the leecher's
    /// `bid`, the seeder's `accept` — a channel of salt `salt_base + seeder index` on the escrow of
    /// `domain` (chain id, escrow) holding `token`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        content: Content,
        domain: &Eip712Domain,
        token: Address,
        seeders: &[SigningKey],
        leechers: &[(SigningKey, Conduct)],
        price: Amount,
        credit: CreditWindow,
        salt_base: u32,
        now: u64,
    ) -> Result<Self, SwarmError> {
        let chain_id = domain
            .chain_id
            .and_then(|id| u64::try_from(id).ok())
            .expect("an escrow's domain has a chain id");
        let escrow = domain
            .verifying_contract
            .expect("an escrow's domain has its address");
        let pieces = content.pieces();
        let mut pairs = BTreeMap::new();
        let mut leecher_nodes = Vec::with_capacity(leechers.len());
        for (l, (key, conduct)) in leechers.iter().enumerate() {
            for (s, seeder_key) in seeders.iter().enumerate() {
                let salt = salt_base + s as u32;
                let payee = PayeeSession::new(PayeeSessionConfig {
                    chain_id,
                    escrow,
                    token,
                    key: seeder_key.clone(),
                    policy: PayeePolicy {
                        min_price: price,
                        credit,
                    },
                })
                .map_err(sdk(l, s))?;
                let payer = PayerSession::new(PayerSessionConfig {
                    chain_id,
                    escrow,
                    token,
                    key: key.clone(),
                    salt,
                    max_price: price,
                    bid_step: price,
                    budget: Amount::MAX,
                    channel: PayerConfig::default(),
                })
                .map_err(sdk(l, s))?;
                let channel =
                    Channel::new(domain.clone(), key.address(), seeder_key.address(), salt)
                        .map_err(sdk(l, s))?;
                let mut pair = Pair {
                    channel,
                    payer,
                    payee,
                };
                pair.negotiate(l, s, now)?;
                pairs.insert((l, s), pair);
            }
            leecher_nodes.push(Leecher {
                key: key.clone(),
                conduct: *conduct,
                have: vec![false; pieces],
                paid_pieces: 0,
            });
        }
        Ok(Self {
            content,
            seeders: seeders.len(),
            leechers: leecher_nodes,
            pairs,
            stats: BTreeMap::new(),
        })
    }

    /// The shared content.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// The channel `leecher` → `seeder` (its identity: parties, salt, id).
    pub fn channel(&self, leecher: usize, seeder: usize) -> Option<&Channel> {
        self.pairs.get(&(leecher, seeder)).map(|pair| &pair.channel)
    }

    /// The payer side of the channel `leecher` → `seeder`.
    pub fn payer(&self, leecher: usize, seeder: usize) -> Option<&PayerSession> {
        self.pairs.get(&(leecher, seeder)).map(|pair| &pair.payer)
    }

    /// The payee side of the channel `leecher` → `seeder`.
    pub fn payee(&self, leecher: usize, seeder: usize) -> Option<&PayeeSession> {
        self.pairs.get(&(leecher, seeder)).map(|pair| &pair.payee)
    }

    /// The leecher's key (its address is the payer of its channels).
    pub fn leecher_key(&self, leecher: usize) -> Option<&SigningKey> {
        self.leechers.get(leecher).map(|l| &l.key)
    }

    /// How many seeders and leechers.
    pub fn size(&self) -> (usize, usize) {
        (self.seeders, self.leechers.len())
    }

    /// Pieces `leecher` has.
    pub fn progress(&self, leecher: usize) -> usize {
        self.leechers
            .get(leecher)
            .map_or(0, |l| l.have.iter().filter(|&&h| h).count())
    }

    /// Whether every leecher has every piece.
    pub fn complete(&self) -> bool {
        self.leechers.iter().all(|l| l.have.iter().all(|&h| h))
    }

    /// What passed between each pair so far, by `(leecher, seeder)`.
    pub fn stats(&self) -> &BTreeMap<(usize, usize), PairStats> {
        &self.stats
    }

    /// Every seeder's latest accepted receipt per channel: what it hands to the relayer.
    pub fn latest_receipts(&self, seeder: usize) -> Vec<SignedReceipt> {
        self.pairs
            .iter()
            .filter(|((_, s), _)| *s == seeder)
            .filter_map(|(_, pair)| pair.payee.latest_receipt().cloned())
            .collect()
    }

    /// Signs the gasless open of every channel with `deposit` (no relayer fee): `(leecher, seeder, open)`,
    /// to submit with `openChannelsBySig` or as the same `openChannel` call.
    #[allow(clippy::type_complexity)]
    pub fn sign_opens(
        &mut self,
        deposit: Amount,
        now: u64,
    ) -> Result<Vec<(usize, usize, Signed<OpenChannel>)>, SwarmError> {
        let mut opens = Vec::new();
        for (&(l, s), pair) in &mut self.pairs {
            opens.push((l, s, pair.payer.open(deposit, 0, now).map_err(sdk(l, s))?));
        }
        Ok(opens)
    }

    /// The chain confirmed channel `leecher` → `seeder` with `deposit`: the payer announces it (`channel`),
    /// the seeder is asked to check it and learns the deposit the chain shows (the caller read it).
    pub fn on_opened(
        &mut self,
        leecher: usize,
        seeder: usize,
        deposit: Amount,
        now: u64,
    ) -> Result<(), SwarmError> {
        let pair = self
            .pairs
            .get_mut(&(leecher, seeder))
            .expect("every pair has a channel");
        let announce = pair
            .payer
            .channel_funded(deposit, None, now)
            .map_err(refused(leecher, seeder))?;
        let check = pair.deliver(&announce, To::Payee, now, leecher, seeder)?;
        if !check.has(Actions::CHECK_CHANNEL) {
            return Err(SwarmError::NoAgreement {
                leecher,
                seeder,
                why: "the seeder did not ask to check the announced channel",
            });
        }
        let funded = pair
            .payee
            .channel_funded(deposit, now)
            .map_err(refused(leecher, seeder))?;
        pair.deliver(&funded, To::Payer, now, leecher, seeder)?;
        Ok(())
    }

    /// One round: every leecher that still misses a piece asks for its lowest missing piece, first from
    /// the seeder the piece's index points at, then from the others in turn; a seeder serves only what
    /// its payee session allows. Each seeder then verifies the receipt it holds (its once-a-tick timer).
    pub fn step(&mut self, now: u64) -> Result<StepReport, SwarmError> {
        let mut report = StepReport::default();
        let seeders = self.seeders;
        for l in 0..self.leechers.len() {
            let Some(index) = self.leechers[l].have.iter().position(|&h| !h) else {
                continue;
            };
            let serving = (0..seeders)
                .map(|k| (index + l + k) % seeders)
                .find(|&s| self.pairs[&(l, s)].payee.may_serve());
            let Some(s) = serving else {
                report.stalled.push(l);
                continue;
            };
            self.transfer(l, s, index, now, &mut report)?;
        }
        for (&(l, s), pair) in &mut self.pairs {
            pair.verify(l, s, now, &mut report)?;
        }
        for (&pair, stats) in &mut self.stats {
            stats.paid = self.pairs[&pair].payee.info().paid;
        }
        Ok(report)
    }

    fn transfer(
        &mut self,
        l: usize,
        s: usize,
        index: usize,
        now: u64,
        report: &mut StepReport,
    ) -> Result<(), SwarmError> {
        let pair = self
            .pairs
            .get_mut(&(l, s))
            .expect("every pair has a channel");
        let served = pair.payee.on_piece_served(now).map_err(refused(l, s))?;
        pair.deliver(&served, To::Payer, now, l, s)?;
        if served.has(Actions::VERIFY_RECEIPT) {
            pair.verify(l, s, now, report)?;
        }
        let data = self.content.piece(index).expect("index below pieces");
        if !self.content.verify(index, data) {
            return Err(SwarmError::CorruptPiece { index, seeder: s });
        }
        let leecher = &mut self.leechers[l];
        leecher.have[index] = true;
        report.transferred.push((l, s, index));
        let stats = self.stats.entry((l, s)).or_default();
        stats.pieces += 1;

        let pays = match leecher.conduct {
            Conduct::Pays => true,
            Conduct::StopsPayingAfter { pieces } => leecher.paid_pieces < pieces,
        };
        if !pays {
            return Ok(());
        }
        let receipt = match pair.payer.on_piece_verified(now) {
            Ok(receipt) => receipt,
            Err(refusal) if matches!(refusal.error, piecepay_sdk::Error::TopUpNeeded { .. }) => {
                return Err(SwarmError::OutOfDeposit {
                    leecher: l,
                    seeder: s,
                });
            }
            Err(other) => return Err(refused(l, s)(other)),
        };
        leecher.paid_pieces += 1;
        stats.receipts += 1;
        let held = pair.deliver(&receipt, To::Payee, now, l, s)?;
        if held.has(Actions::VERIFY_RECEIPT) {
            pair.verify(l, s, now, report)?;
        }
        Ok(())
    }
}

impl Pair {
    /// terms → bid → accept: the sessions agree on the channel.
    fn negotiate(&mut self, l: usize, s: usize, now: u64) -> Result<(), SwarmError> {
        let terms = Outcome {
            reply: Some(self.payee.terms_message()),
            ..Outcome::default()
        };
        let bid = self.deliver(&terms, To::Payer, now, l, s)?;
        let accept = self.deliver(&bid, To::Payee, now, l, s)?;
        let agreed = self.deliver(&accept, To::Payer, now, l, s)?;
        if !agreed.has(Actions::OPEN_CHANNEL) {
            return Err(SwarmError::NoAgreement {
                leecher: l,
                seeder: s,
                why: "no accept",
            });
        }
        let on_both = (
            self.payer.channel().map(|c| c.channel().id()),
            self.payee.channel().map(|c| c.channel().id()),
        );
        if on_both != (Some(self.channel.id()), Some(self.channel.id())) {
            return Err(SwarmError::NoAgreement {
                leecher: l,
                seeder: s,
                why: "another channel than expected",
            });
        }
        Ok(())
    }

    /// Delivers the reply of `from` (if any), encoded as on the wire, to one side of the pair; its
    /// outcome (empty if nothing was sent).
    fn deliver(
        &mut self,
        from: &Outcome,
        to: To,
        now: u64,
        l: usize,
        s: usize,
    ) -> Result<Outcome, SwarmError> {
        let Some(message) = &from.reply else {
            return Ok(Outcome::default());
        };
        let bytes = over_the_wire(message);
        let outcome = match to {
            To::Payee => self.payee.on_bytes(&bytes, now),
            To::Payer => self.payer.on_bytes(&bytes, now),
        };
        outcome.map_err(refused(l, s))
    }

    /// The payee verifies the receipt it holds, if any, and acknowledges it to the payer.
    fn verify(
        &mut self,
        l: usize,
        s: usize,
        now: u64,
        report: &mut StepReport,
    ) -> Result<(), SwarmError> {
        if self.payee.held_receipt().is_none() {
            return Ok(());
        }
        let acked = self.payee.verify_receipt(now).map_err(refused(l, s))?;
        if acked.has(Actions::PERSIST_RECEIPT) {
            report.receipts.push((l, s, acked.amount));
            let ack = self.deliver(&acked, To::Payer, now, l, s)?;
            debug_assert_eq!(ack.amount, acked.amount);
        }
        Ok(())
    }
}

/// Which side of a pair a message goes to.
#[derive(Clone, Copy)]
enum To {
    Payee,
    Payer,
}

/// A receipt of `channel` for `cumulative`, signed by `key` (tests of the payee's checks).
pub fn sign_receipt(channel: &Channel, key: &SigningKey, cumulative: Amount) -> SignedReceipt {
    let message = piecepay_sdk::protocol::Receipt {
        payee: channel.payee(),
        salt: channel.salt(),
        cumulative: U96::from(cumulative),
    };
    let signature = key
        .sign_digest(&message.signing_hash(channel.domain_separator()))
        .expect("a valid key signs");
    Signed { message, signature }
}

#[cfg(test)]
mod tests {
    use piecepay_sdk::protocol::{alloy_primitives::B256, domain};

    use super::*;

    const NOW: u64 = 1_700_000_000;
    const PRICE: Amount = 1_000;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&B256::repeat_byte(byte)).unwrap()
    }

    fn unopened(leechers: &[(SigningKey, Conduct)], seeders: usize, credit: u32) -> Swarm {
        let content = Content::generate(40 * 256, 256, 1);
        let seeders: Vec<_> = (0..seeders as u8).map(|i| key(0x51 + i)).collect();
        let d = domain(31_337, Address::repeat_byte(0xe5));
        Swarm::new(
            content,
            &d,
            Address::repeat_byte(0x70),
            &seeders,
            leechers,
            PRICE,
            CreditWindow::Pieces(credit),
            1,
            NOW,
        )
        .unwrap()
    }

    fn swarm(leechers: &[(SigningKey, Conduct)], credit: u32) -> Swarm {
        let mut swarm = unopened(leechers, 2, credit);
        let opens = swarm.sign_opens(100 * PRICE, NOW).unwrap();
        assert_eq!(opens.len(), leechers.len() * 2);
        for (l, s, open) in opens {
            assert_eq!(open.message.salt, 1 + s as u32);
            swarm.on_opened(l, s, 100 * PRICE, NOW).unwrap();
        }
        swarm
    }

    fn run(swarm: &mut Swarm) -> (u64, Vec<usize>) {
        let mut steps = 0;
        loop {
            let report = swarm.step(NOW).unwrap();
            steps += 1;
            if report.transferred.is_empty() || steps > 1_000 {
                return (steps, report.stalled);
            }
        }
    }

    #[test]
    fn paying_leechers_get_every_piece_and_every_piece_is_paid_once() {
        let mut swarm = swarm(&[(key(1), Conduct::Pays), (key(2), Conduct::Pays)], 2);
        let (_, stalled) = run(&mut swarm);
        assert!(stalled.is_empty());
        assert!(swarm.complete());
        for l in 0..2 {
            let mut pieces = 0;
            for s in 0..2 {
                let stats = swarm.stats()[&(l, s)];
                assert_eq!(stats.receipts, stats.pieces);
                assert_eq!(stats.paid, stats.pieces as Amount * PRICE);
                assert_eq!(swarm.payee(l, s).unwrap().info().paid, stats.paid);
                assert_eq!(swarm.payer(l, s).unwrap().info().paid, stats.paid);
                assert_eq!(swarm.payer(l, s).unwrap().info().acknowledged, stats.paid);
                pieces += stats.pieces;
            }
            assert_eq!(pieces, 40, "each piece once");
        }
        // Both seeders served each leecher: pieces are spread by index.
        assert!(swarm.stats().values().all(|s| s.pieces >= 10));
        assert_eq!(swarm.latest_receipts(0).len(), 2);
    }

    #[test]
    fn a_leecher_that_stops_paying_is_choked_within_the_credit_window() {
        let credit = 3;
        let mut swarm = swarm(
            &[
                (key(1), Conduct::Pays),
                (key(2), Conduct::StopsPayingAfter { pieces: 5 }),
            ],
            credit,
        );
        let (_, stalled) = run(&mut swarm);
        assert_eq!(stalled, vec![1]);
        assert_eq!(swarm.progress(0), 40, "the paying leecher is not held up");
        for s in 0..2 {
            let stats = swarm.stats()[&(1, s)];
            let unpaid = stats.pieces - stats.receipts;
            assert!(
                unpaid <= u64::from(credit),
                "seeder {s} lost {unpaid} pieces"
            );
        }
        let paid: u64 = (0..2).map(|s| swarm.stats()[&(1, s)].receipts).sum();
        assert_eq!(paid, 5);
        assert!(swarm.progress(1) < 40);
    }

    #[test]
    fn unopened_channels_serve_nothing() {
        let mut swarm = unopened(&[(key(1), Conduct::Pays)], 1, 2);
        let report = swarm.step(NOW).unwrap();
        assert_eq!(report.stalled, vec![0]);
        assert!(report.transferred.is_empty());
    }

    #[test]
    fn a_forged_receipt_is_refused_over_the_wire() {
        let mut swarm = swarm(&[(key(1), Conduct::Pays)], 2);
        swarm.step(NOW).unwrap();
        let pair = swarm.pairs.get_mut(&(0, 0)).unwrap();
        let forged = sign_receipt(&pair.channel, &key(9), 50 * PRICE);
        let bytes = over_the_wire(&Message::Receipt(piecepay_sdk::wire::Receipt {
            salt: forged.message.salt,
            cumulative: 50 * PRICE,
            signature: forged.signature,
        }));
        pair.payee.on_bytes(&bytes, NOW).unwrap();
        let refused = pair.payee.verify_receipt(NOW).unwrap_err();
        assert_eq!(refused.error.code(), "wrong_signer");
        assert!(matches!(refused.outcome.reply, Some(Message::Error(_))));
    }
}
