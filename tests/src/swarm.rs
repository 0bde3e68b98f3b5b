//! Seeders and leechers exchanging pieces and receipts through the SDK's state machines.
//!
//! Sans-IO like the SDK: a [`Swarm`] holds every peer's channels, [`Swarm::step`] moves one piece per
//! leecher (serve decision → bytes → SHA-1 check → receipt → payee's verification) and returns what
//! happened. Opening channels on chain and handing receipts to the relayer are the caller's.

use std::collections::BTreeMap;

use piecepay_sdk::{
    Amount, Channel, PayeeChannel, PayerChannel, PayerConfig, Payment, ServeDecision, Signed,
    SignedReceipt, Terms,
    protocol::{Eip712Domain, OpenChannel, SigningKey, alloy_primitives::Address},
};

use crate::content::Content;

/// Why a step could not go on; every variant is a bug in the peers or the SDK, not bad luck.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The SDK refused a call that the protocol says is legal here.
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
}

/// What one [`Swarm::step`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Pieces that passed their hash check: `(leecher, seeder, piece)`.
    pub transferred: Vec<(usize, usize, usize)>,
    /// Receipts the seeders accepted: `(leecher, seeder, cumulative)`.
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
    /// Receipts the seeder accepted.
    pub receipts: u64,
    /// The highest cumulative the seeder accepted.
    pub paid: Amount,
}

struct Seeder {
    address: Address,
    /// The payee side of each channel, by leecher index.
    channels: BTreeMap<usize, PayeeChannel>,
}

struct Leecher {
    key: SigningKey,
    conduct: Conduct,
    /// The payer side of each channel, by seeder index.
    channels: BTreeMap<usize, PayerChannel>,
    have: Vec<bool>,
    paid_pieces: u64,
}

/// A swarm: every seeder has the whole [`Content`]; every leecher has a channel to every seeder.
pub struct Swarm {
    content: Content,
    seeders: Vec<Seeder>,
    leechers: Vec<Leecher>,
    stats: BTreeMap<(usize, usize), PairStats>,
}

impl Swarm {
    /// A swarm sharing `content` between `seeders` and `leechers` (with their conduct), every pair with
    /// a channel of salt `salt_base + seeder index` on the escrow of `domain`, at `terms`.
    pub fn new(
        content: Content,
        domain: &Eip712Domain,
        seeders: &[Address],
        leechers: &[(SigningKey, Conduct)],
        terms: Terms,
        salt_base: u32,
        now: u64,
    ) -> Result<Self, SwarmError> {
        let pieces = content.pieces();
        let mut seeder_nodes: Vec<Seeder> = seeders
            .iter()
            .map(|&address| Seeder {
                address,
                channels: BTreeMap::new(),
            })
            .collect();
        let mut leecher_nodes = Vec::with_capacity(leechers.len());
        for (l, (key, conduct)) in leechers.iter().enumerate() {
            let mut channels = BTreeMap::new();
            for (s, seeder) in seeder_nodes.iter_mut().enumerate() {
                let peer = format!("leecher {l} → seeder {s}");
                let sdk = |source| SwarmError::Sdk {
                    peer: peer.clone(),
                    source,
                };
                let channel = Channel::new(
                    domain.clone(),
                    key.address(),
                    seeder.address,
                    salt_base + s as u32,
                )
                .map_err(sdk)?;
                let payer = PayerChannel::new(
                    key.clone(),
                    channel.clone(),
                    terms,
                    PayerConfig::default(),
                    now,
                )
                .map_err(sdk)?;
                seeder
                    .channels
                    .insert(l, PayeeChannel::new(channel, terms, now));
                channels.insert(s, payer);
            }
            leecher_nodes.push(Leecher {
                key: key.clone(),
                conduct: *conduct,
                channels,
                have: vec![false; pieces],
                paid_pieces: 0,
            });
        }
        Ok(Self {
            content,
            seeders: seeder_nodes,
            leechers: leecher_nodes,
            stats: BTreeMap::new(),
        })
    }

    /// The shared content.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// The payer side of the channel `leecher` → `seeder`.
    pub fn payer(&self, leecher: usize, seeder: usize) -> Option<&PayerChannel> {
        self.leechers.get(leecher)?.channels.get(&seeder)
    }

    /// The payee side of the channel `leecher` → `seeder`.
    pub fn payee(&self, leecher: usize, seeder: usize) -> Option<&PayeeChannel> {
        self.seeders.get(seeder)?.channels.get(&leecher)
    }

    /// Mutable access to both sides of a channel, for the caller's chain events (opened, closed, …).
    pub fn channel_mut(
        &mut self,
        leecher: usize,
        seeder: usize,
    ) -> Option<(&mut PayerChannel, &mut PayeeChannel)> {
        let payer = self.leechers.get_mut(leecher)?.channels.get_mut(&seeder)?;
        let payee = self.seeders.get_mut(seeder)?.channels.get_mut(&leecher)?;
        Some((payer, payee))
    }

    /// The leecher's key (its address is the payer of its channels).
    pub fn leecher_key(&self, leecher: usize) -> Option<&SigningKey> {
        self.leechers.get(leecher).map(|l| &l.key)
    }

    /// How many seeders and leechers.
    pub fn size(&self) -> (usize, usize) {
        (self.seeders.len(), self.leechers.len())
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
        self.seeders.get(seeder).map_or_else(Vec::new, |s| {
            s.channels
                .values()
                .filter_map(|payee| payee.latest_receipt().cloned())
                .collect()
        })
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
        for (l, leecher) in self.leechers.iter_mut().enumerate() {
            for (&s, payer) in &mut leecher.channels {
                let open = payer
                    .open(deposit, 0, now)
                    .map_err(|source| SwarmError::Sdk {
                        peer: format!("leecher {l} → seeder {s}"),
                        source,
                    })?;
                opens.push((l, s, open));
            }
        }
        Ok(opens)
    }

    /// The chain confirmed channel `leecher` → `seeder` with `deposit`: both sides learn it.
    pub fn on_opened(
        &mut self,
        leecher: usize,
        seeder: usize,
        deposit: Amount,
        now: u64,
    ) -> Result<(), SwarmError> {
        let sdk = |source| SwarmError::Sdk {
            peer: format!("leecher {leecher} → seeder {seeder}"),
            source,
        };
        let (payer, payee) = self
            .channel_mut(leecher, seeder)
            .expect("every pair has a channel");
        payer.on_opened(deposit, now).map_err(sdk)?;
        payee.on_channel_opened(deposit, now).map_err(sdk)
    }

    /// One round: every leecher that still misses a piece asks for its lowest missing piece, first from
    /// the seeder the piece's index points at, then from the others in turn; a seeder serves only what
    /// its payee channel allows.
    pub fn step(&mut self, now: u64) -> Result<StepReport, SwarmError> {
        let mut report = StepReport::default();
        let seeders = self.seeders.len();
        for l in 0..self.leechers.len() {
            let Some(index) = self.leechers[l].have.iter().position(|&h| !h) else {
                continue;
            };
            let serving = (0..seeders)
                .map(|k| (index + l + k) % seeders)
                .find(|&s| self.seeders[s].channels[&l].serve_decision() == ServeDecision::Serve);
            let Some(s) = serving else {
                report.stalled.push(l);
                continue;
            };
            self.transfer(l, s, index, now, &mut report)?;
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
        let sdk = |source| SwarmError::Sdk {
            peer: format!("leecher {l} → seeder {s}"),
            source,
        };
        let payee = self
            .seeders
            .get_mut(s)
            .and_then(|seeder| seeder.channels.get_mut(&l))
            .expect("every pair has a channel");
        let _next = payee.on_piece_served(now).map_err(sdk)?;
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
        let payer = leecher
            .channels
            .get_mut(&s)
            .expect("every pair has a channel");
        let receipt = match payer.pay_piece(now).map_err(sdk)? {
            Payment::Paid { receipt, .. } => receipt,
            Payment::TopUpNeeded { .. } => {
                return Err(SwarmError::OutOfDeposit {
                    leecher: l,
                    seeder: s,
                });
            }
        };
        leecher.paid_pieces += 1;
        let payee = self.seeders[s]
            .channels
            .get_mut(&l)
            .expect("every pair has a channel");
        let accepted = payee
            .on_receipt(&receipt.message, &receipt.signature, now)
            .map_err(sdk)?;
        stats.receipts += 1;
        stats.paid = accepted.cumulative;
        report.receipts.push((l, s, accepted.cumulative));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use piecepay_sdk::{
        CreditWindow,
        protocol::{alloy_primitives::B256, domain},
    };

    use super::*;

    const NOW: u64 = 1_700_000_000;
    const PRICE: Amount = 1_000;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&B256::repeat_byte(byte)).unwrap()
    }

    fn swarm(leechers: &[(SigningKey, Conduct)], credit: u32) -> Swarm {
        let content = Content::generate(40 * 256, 256, 1);
        let seeders = [key(0x51).address(), key(0x52).address()];
        let terms = Terms::new(PRICE, CreditWindow::Pieces(credit)).unwrap();
        let d = domain(31_337, Address::repeat_byte(0xe5));
        let mut swarm = Swarm::new(content, &d, &seeders, leechers, terms, 1, NOW).unwrap();
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
                assert_eq!(swarm.payee(l, s).unwrap().paid(), stats.paid);
                assert_eq!(swarm.payer(l, s).unwrap().cumulative(), stats.paid);
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
        let content = Content::generate(1024, 256, 1);
        let terms = Terms::new(PRICE, CreditWindow::Pieces(2)).unwrap();
        let d = domain(31_337, Address::repeat_byte(0xe5));
        let mut swarm = Swarm::new(
            content,
            &d,
            &[key(0x51).address()],
            &[(key(1), Conduct::Pays)],
            terms,
            1,
            NOW,
        )
        .unwrap();
        let report = swarm.step(NOW).unwrap();
        assert_eq!(report.stalled, vec![0]);
        assert!(report.transferred.is_empty());
    }
}
