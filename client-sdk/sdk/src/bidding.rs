//! Prices and slots: the payer's automatic bid, and the payee's unchoke ranking.
//!
//! A payer bids a price per piece ([`Bidder`]): it starts low, raises by a step when a payee chokes or
//! rejects it, never above its maximum price nor beyond its budget. A payee ranks the peers it could
//! unchoke ([`rank_unchoke`]) by bid — paying jumps the queue, as in BitTorrent Speed — but keeps a share
//! of its slots for peers that do not pay, ranked tit-for-tat, so they are never starved entirely.

use crate::{Amount, Error, MAX_AMOUNT, PayerChannel, Payment, Result};

/// A payer's bidding limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BidPolicy {
    /// The first price offered per piece.
    pub start: Amount,
    /// The most ever offered per piece.
    pub max_price: Amount,
    /// How much a raise adds.
    pub step: Amount,
    /// Seconds between two raises on being choked (BitTorrent re-chokes every 10 s: raising faster only
    /// overpays).
    pub raise_interval: u64,
    /// The most the payer spends in all, over every channel this bidder prices.
    pub budget: Amount,
}

impl BidPolicy {
    /// Checks the policy: `0 < start ≤ max_price ≤ MAX_AMOUNT` and a positive `step`.
    pub fn validate(&self) -> Result<()> {
        if self.start == 0 {
            return Err(Error::InvalidPolicy("start price must be positive"));
        }
        if self.start > self.max_price {
            return Err(Error::InvalidPolicy("start price above max_price"));
        }
        if self.max_price > MAX_AMOUNT {
            return Err(Error::InvalidPolicy(
                "max_price exceeds the escrow's uint96 range",
            ));
        }
        if self.step == 0 {
            return Err(Error::InvalidPolicy("step must be positive"));
        }
        Ok(())
    }
}

/// Why a bid was not raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// The bid is already at the maximum price.
    AtMax,
    /// The payee wants more than the maximum price.
    AboveMax {
        /// The payee's minimum price.
        min_price: Amount,
    },
    /// The last raise was too recent; the next may come at `next`.
    TooSoon {
        /// When the next raise is allowed.
        next: u64,
    },
    /// The remaining budget does not cover one piece at the raised price.
    OverBudget,
}

/// What a bidder did about a choke or a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum BidUpdate {
    /// Bid `price` now (send a new `bid`).
    Raised {
        /// The new price per piece.
        price: Amount,
    },
    /// Keep bidding `price`.
    Unchanged {
        /// The price per piece, unchanged.
        price: Amount,
        /// Why it was not raised.
        reason: HoldReason,
    },
}

/// A payer's automatic bid. Its price never exceeds [`BidPolicy::max_price`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bidder {
    policy: BidPolicy,
    price: Amount,
    spent: Amount,
    last_raise: Option<u64>,
}

impl Bidder {
    /// A bidder at the policy's start price.
    pub fn new(policy: BidPolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Self {
            policy,
            price: policy.start,
            spent: 0,
            last_raise: None,
        })
    }

    /// A bidder resumed after a restart: bidding `price` (kept within `start ..= max_price`) with `spent`
    /// already paid.
    pub fn resume(policy: BidPolicy, price: Amount, spent: Amount) -> Result<Self> {
        let mut bidder = Self::new(policy)?;
        bidder.price = price.clamp(policy.start, policy.max_price);
        bidder.spent = spent;
        Ok(bidder)
    }

    /// The limits.
    pub const fn policy(&self) -> &BidPolicy {
        &self.policy
    }

    /// The price per piece to bid now.
    pub const fn price(&self) -> Amount {
        self.price
    }

    /// What has been spent so far.
    pub const fn spent(&self) -> Amount {
        self.spent
    }

    /// What is left of the budget.
    pub const fn remaining_budget(&self) -> Amount {
        self.policy.budget.saturating_sub(self.spent)
    }

    /// Whether the budget still covers one piece at the current price.
    pub const fn can_afford(&self) -> bool {
        self.remaining_budget() >= self.price
    }

    /// Records `amount` paid (the delta of a receipt signed at this bidder's price). [`pay_piece`](
    /// Self::pay_piece) calls it; call it yourself only for payments made around the bidder.
    pub const fn on_paid(&mut self, amount: Amount) {
        self.spent = self.spent.saturating_add(amount);
    }

    /// Pays one piece on `channel` at its agreed price, within the budget ([`pay`](Self::pay) with the
    /// price).
    pub fn pay_piece(&mut self, channel: &mut PayerChannel, now: u64) -> Result<Payment> {
        self.pay(channel, channel.terms().price(), now)
    }

    /// Pays `amount` more on `channel`, within the budget: refused with [`Error::OverBudget`] (nothing
    /// signed) when the remaining budget does not cover it; otherwise [`PayerChannel::pay`], and what it
    /// signed is recorded as spent. Pay through this, not `channel.pay` directly, and the budget holds for
    /// payments, not only for bids.
    pub fn pay(&mut self, channel: &mut PayerChannel, amount: Amount, now: u64) -> Result<Payment> {
        let remaining = self.remaining_budget();
        if amount > remaining {
            return Err(Error::OverBudget {
                price: amount,
                remaining,
            });
        }
        let before = channel.cumulative();
        let payment = channel.pay(amount, now)?;
        if let Payment::Paid { receipt, .. } = &payment {
            self.on_paid(receipt.cumulative() - before);
        }
        Ok(payment)
    }

    /// A payee choked us: raise by one step (capped at the maximum price), at most once per
    /// [`BidPolicy::raise_interval`], and only if the budget covers a piece at the new price.
    pub fn on_choked(&mut self, now: u64) -> BidUpdate {
        if self.price >= self.policy.max_price {
            return self.hold(HoldReason::AtMax);
        }
        if let Some(last) = self.last_raise {
            let next = last.saturating_add(self.policy.raise_interval);
            if now < next {
                return self.hold(HoldReason::TooSoon { next });
            }
        }
        let target = self
            .price
            .saturating_add(self.policy.step)
            .min(self.policy.max_price);
        self.raise_to(target, now)
    }

    /// A payee rejected our bid and asks at least `min_price`: meet it at once if it is within the
    /// maximum price and the budget (no waiting: the payee answered). A `min_price` at or below our price
    /// is treated as a choke.
    pub fn on_rejected(&mut self, min_price: Amount, now: u64) -> BidUpdate {
        if min_price <= self.price {
            return self.on_choked(now);
        }
        if min_price > self.policy.max_price {
            return self.hold(HoldReason::AboveMax { min_price });
        }
        self.raise_to(min_price, now)
    }

    fn raise_to(&mut self, target: Amount, now: u64) -> BidUpdate {
        debug_assert!(target <= self.policy.max_price);
        if self.remaining_budget() < target {
            return self.hold(HoldReason::OverBudget);
        }
        self.price = target;
        self.last_raise = Some(now);
        BidUpdate::Raised { price: target }
    }

    const fn hold(&self, reason: HoldReason) -> BidUpdate {
        BidUpdate::Unchanged {
            price: self.price,
            reason,
        }
    }
}

/// How a payee shares its upload slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnchokePolicy {
    /// Upload slots (peers unchoked at once).
    pub slots: usize,
    /// Percentage of the slots, rounded up, kept for peers that do not pay when there are such peers.
    /// Slots nobody of one kind claims go to the other.
    pub reserved_percent: u8,
}

impl UnchokePolicy {
    /// Checks the policy: `reserved_percent ≤ 100`.
    pub fn validate(&self) -> Result<()> {
        if self.reserved_percent > 100 {
            return Err(Error::InvalidPolicy("reserved_percent above 100"));
        }
        Ok(())
    }

    /// Slots kept for peers that do not pay: `ceil(slots × reserved_percent / 100)`, so any positive
    /// share keeps at least one.
    pub const fn reserved_slots(&self) -> usize {
        let percent = if self.reserved_percent > 100 {
            100
        } else {
            self.reserved_percent as usize
        };
        // ceil(slots × percent / 100) without overflow: slots = 100q + r.
        (self.slots / 100) * percent + (self.slots % 100 * percent).div_ceil(100)
    }
}

/// A peer that wants pieces, as a payee sees it when choosing whom to unchoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate<P> {
    /// The caller's handle for the peer.
    pub peer: P,
    /// The accepted price per piece, if the peer pays (`None` or 0: it does not). Leave out paying peers
    /// that are over their credit ([`crate::payee::ServeDecision`]).
    pub bid: Option<Amount>,
    /// What the peer gives back (its recent upload rate to us): the tit-for-tat rank.
    pub reciprocation: u64,
}

impl<P> Candidate<P> {
    fn pays(&self) -> Option<Amount> {
        self.bid.filter(|bid| *bid > 0)
    }
}

/// The peers to unchoke, at most `policy.slots` of them: paying peers by bid (highest first, then by
/// reciprocation), then peers that do not pay by reciprocation, with
/// [`reserved_slots`](UnchokePolicy::reserved_slots) kept for the latter. Ties keep the input order, so the
/// ranking is deterministic; an optimistic unchoke (random) is the caller's.
pub fn rank_unchoke<P>(
    policy: &UnchokePolicy,
    candidates: impl IntoIterator<Item = Candidate<P>>,
) -> Vec<P> {
    let (mut paying, mut free): (Vec<_>, Vec<_>) =
        candidates.into_iter().partition(|c| c.pays().is_some());
    // Stable sorts: equal ranks stay in input order.
    paying.sort_by(|a, b| {
        b.pays()
            .cmp(&a.pays())
            .then(b.reciprocation.cmp(&a.reciprocation))
    });
    free.sort_by_key(|c| core::cmp::Reverse(c.reciprocation));

    let reserved = policy.reserved_slots().min(free.len()).min(policy.slots);
    let paid_slots = policy.slots - reserved;
    let mut unchoked: Vec<P> = paying
        .into_iter()
        .take(paid_slots)
        .map(|c| c.peer)
        .collect();
    let free_slots = policy.slots - unchoked.len();
    unchoked.extend(free.into_iter().take(free_slots).map(|c| c.peer));
    unchoked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BidPolicy {
        BidPolicy {
            start: 10,
            max_price: 25,
            step: 10,
            raise_interval: 10,
            budget: 1_000,
        }
    }

    #[test]
    fn policy_validation() {
        assert!(policy().validate().is_ok());
        for bad in [
            BidPolicy {
                start: 0,
                ..policy()
            },
            BidPolicy {
                start: 26,
                ..policy()
            },
            BidPolicy {
                step: 0,
                ..policy()
            },
            BidPolicy {
                max_price: MAX_AMOUNT + 1,
                ..policy()
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "invalid_policy");
            assert!(Bidder::new(bad).is_err());
        }
    }

    #[test]
    fn starts_at_start() {
        let bidder = Bidder::new(policy()).unwrap();
        assert_eq!(bidder.price(), 10);
        assert_eq!(bidder.spent(), 0);
        assert_eq!(bidder.remaining_budget(), 1_000);
        assert!(bidder.can_afford());
        assert_eq!(bidder.policy(), &policy());
    }

    #[test]
    fn choke_raises_by_a_step_then_caps_at_max() {
        let mut bidder = Bidder::new(policy()).unwrap();
        assert_eq!(bidder.on_choked(0), BidUpdate::Raised { price: 20 });
        assert_eq!(bidder.on_choked(10), BidUpdate::Raised { price: 25 });
        assert_eq!(
            bidder.on_choked(20),
            BidUpdate::Unchanged {
                price: 25,
                reason: HoldReason::AtMax
            }
        );
        assert_eq!(bidder.price(), 25);
    }

    #[test]
    fn raises_wait_for_the_interval() {
        let mut bidder = Bidder::new(policy()).unwrap();
        assert_eq!(bidder.on_choked(100), BidUpdate::Raised { price: 20 });
        assert_eq!(
            bidder.on_choked(109),
            BidUpdate::Unchanged {
                price: 20,
                reason: HoldReason::TooSoon { next: 110 }
            }
        );
        assert_eq!(bidder.on_choked(110), BidUpdate::Raised { price: 25 });
    }

    #[test]
    fn raises_stay_within_budget() {
        let mut bidder = Bidder::new(BidPolicy {
            budget: 15,
            ..policy()
        })
        .unwrap();
        assert_eq!(
            bidder.on_choked(0),
            BidUpdate::Unchanged {
                price: 10,
                reason: HoldReason::OverBudget
            }
        );
        bidder.on_paid(10);
        assert_eq!(bidder.spent(), 10);
        assert_eq!(bidder.remaining_budget(), 5);
        assert!(!bidder.can_afford());
        bidder.on_paid(Amount::MAX);
        assert_eq!(bidder.remaining_budget(), 0);
    }

    #[test]
    fn rejection_meets_the_minimum_price_at_once() {
        let mut bidder = Bidder::new(policy()).unwrap();
        assert_eq!(bidder.on_rejected(17, 0), BidUpdate::Raised { price: 17 });
        assert_eq!(bidder.on_rejected(23, 1), BidUpdate::Raised { price: 23 });
        assert_eq!(
            bidder.on_rejected(26, 2),
            BidUpdate::Unchanged {
                price: 23,
                reason: HoldReason::AboveMax { min_price: 26 }
            }
        );
    }

    #[test]
    fn rejection_below_our_price_is_a_choke() {
        let mut bidder = Bidder::new(policy()).unwrap();
        assert_eq!(bidder.on_rejected(5, 0), BidUpdate::Raised { price: 20 });
        assert_eq!(
            bidder.on_rejected(5, 1),
            BidUpdate::Unchanged {
                price: 20,
                reason: HoldReason::TooSoon { next: 10 }
            }
        );
    }

    #[test]
    fn payments_through_the_bidder_stop_at_the_budget() {
        use crate::{Channel, CreditWindow, PayerConfig, Terms};
        use piecepay_protocol::{
            SigningKey,
            alloy_primitives::{Address, B256},
            domain,
        };
        let key = SigningKey::from_bytes(&B256::repeat_byte(1)).unwrap();
        let channel = Channel::new(
            domain(31_337, Address::repeat_byte(0xe5)),
            key.address(),
            Address::repeat_byte(2),
            7,
        )
        .unwrap();
        let terms = Terms::new(10, CreditWindow::Pieces(1)).unwrap();
        let mut payer = PayerChannel::new(key, channel, terms, PayerConfig::default(), 0).unwrap();
        payer.open(1_000, 0, 0).unwrap();
        payer.on_opened(1_000, 0).unwrap();
        let mut bidder = Bidder::new(BidPolicy {
            budget: 25,
            ..policy()
        })
        .unwrap();
        for _ in 0..2 {
            assert!(matches!(
                bidder.pay_piece(&mut payer, 0),
                Ok(Payment::Paid { .. })
            ));
        }
        assert_eq!((bidder.spent(), bidder.remaining_budget()), (20, 5));
        assert_eq!(
            bidder.pay_piece(&mut payer, 0),
            Err(Error::OverBudget {
                price: 10,
                remaining: 5
            })
        );
        assert_eq!(payer.cumulative(), 20, "nothing signed past the budget");
    }

    #[test]
    fn rejection_respects_the_budget() {
        let mut bidder = Bidder::new(BidPolicy {
            budget: 20,
            ..policy()
        })
        .unwrap();
        assert_eq!(
            bidder.on_rejected(21, 0),
            BidUpdate::Unchanged {
                price: 10,
                reason: HoldReason::OverBudget
            }
        );
    }

    fn candidate(
        peer: &'static str,
        bid: Option<Amount>,
        reciprocation: u64,
    ) -> Candidate<&'static str> {
        Candidate {
            peer,
            bid,
            reciprocation,
        }
    }

    #[test]
    fn unchoke_policy_reserved_slots_round_up() {
        let slots = |slots, reserved_percent| {
            UnchokePolicy {
                slots,
                reserved_percent,
            }
            .reserved_slots()
        };
        assert_eq!(slots(4, 0), 0);
        assert_eq!(slots(4, 1), 1);
        assert_eq!(slots(4, 25), 1);
        assert_eq!(slots(4, 26), 2);
        assert_eq!(slots(4, 100), 4);
        assert_eq!(slots(0, 50), 0);
        assert_eq!(slots(4, 200), 4);
        assert_eq!(slots(250, 10), 25);
        assert_eq!(slots(251, 10), 26);
        assert_eq!(slots(usize::MAX, 100), usize::MAX);
        assert!(
            UnchokePolicy {
                slots: 4,
                reserved_percent: 101
            }
            .validate()
            .is_err()
        );
        assert!(
            UnchokePolicy {
                slots: 4,
                reserved_percent: 100
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn paying_peers_are_ranked_by_bid_and_free_peers_keep_their_share() {
        let policy = UnchokePolicy {
            slots: 4,
            reserved_percent: 25,
        };
        let ranked = rank_unchoke(
            &policy,
            [
                candidate("free-slow", None, 1),
                candidate("pays-10", Some(10), 0),
                candidate("pays-30", Some(30), 0),
                candidate("free-fast", None, 100),
                candidate("pays-20", Some(20), 0),
                candidate("pays-5", Some(5), 0),
            ],
        );
        assert_eq!(ranked, ["pays-30", "pays-20", "pays-10", "free-fast"]);
    }

    #[test]
    fn unused_reserved_slots_go_to_payers_and_unused_paid_slots_to_free_peers() {
        let policy = UnchokePolicy {
            slots: 3,
            reserved_percent: 50,
        };
        let payers_only = rank_unchoke(
            &policy,
            [
                candidate("a", Some(1), 0),
                candidate("b", Some(2), 0),
                candidate("c", Some(3), 0),
                candidate("d", Some(4), 0),
            ],
        );
        assert_eq!(payers_only, ["d", "c", "b"]);
        let free_only = rank_unchoke(
            &policy,
            [
                candidate("a", None, 1),
                candidate("b", Some(0), 2),
                candidate("c", None, 3),
                candidate("d", None, 4),
            ],
        );
        assert_eq!(free_only, ["d", "c", "b"], "a zero bid does not pay");
        let one_payer = rank_unchoke(
            &policy,
            [
                candidate("free", None, 1),
                candidate("payer", Some(1), 0),
                candidate("free2", None, 0),
                candidate("free3", None, 5),
            ],
        );
        assert_eq!(one_payer, ["payer", "free3", "free"]);
    }

    #[test]
    fn ties_break_by_reciprocation_then_input_order() {
        let policy = UnchokePolicy {
            slots: 4,
            reserved_percent: 0,
        };
        let ranked = rank_unchoke(
            &policy,
            [
                candidate("x", Some(5), 1),
                candidate("y", Some(5), 9),
                candidate("z", Some(5), 1),
                candidate("w", Some(6), 0),
            ],
        );
        assert_eq!(ranked, ["w", "y", "x", "z"]);
    }

    #[test]
    fn no_slots_no_unchokes_and_fewer_candidates_than_slots() {
        let none = UnchokePolicy {
            slots: 0,
            reserved_percent: 50,
        };
        assert!(rank_unchoke(&none, [candidate("a", Some(1), 1)]).is_empty());
        let many = UnchokePolicy {
            slots: 10,
            reserved_percent: 50,
        };
        assert_eq!(
            rank_unchoke(&many, [candidate("a", None, 1), candidate("b", Some(1), 0)]),
            ["b", "a"]
        );
        assert!(rank_unchoke::<u8>(&many, []).is_empty());
    }

    #[test]
    fn a_full_house_of_payers_cannot_starve_free_peers() {
        let policy = UnchokePolicy {
            slots: 4,
            reserved_percent: 1,
        };
        let mut candidates: Vec<_> = (0..100u64)
            .map(|i| Candidate {
                peer: i,
                bid: Some(1_000 + i as Amount),
                reciprocation: 0,
            })
            .collect();
        candidates.push(Candidate {
            peer: 1_000,
            bid: None,
            reciprocation: 1,
        });
        let ranked = rank_unchoke(&policy, candidates);
        assert_eq!(ranked, [99, 98, 97, 1_000]);
    }
}
