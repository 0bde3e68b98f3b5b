//! Receipt admission: the one rule by which a receipt is taken — by the payee (the SDK's
//! `PayeeChannel`) and by the relayer (`relayer_api::ChannelSnapshot`). Each side builds a
//! [`ChannelView`] from what it knows and maps a [`Refusal`] to its own error.
//!
//! In order, for a receipt of `cumulative` at unix time `now`:
//!
//! 1. **Duplicate.** The cumulative already held is a [`Admission::Duplicate`], whatever the channel's
//!    state: nothing is stored and the sender gets the answer the first copy got (the relayer's
//!    `duplicate`, the payee's acknowledgement again). A duplicate is *the same cumulative, signed by the
//!    channel's payer* — the signature bytes need not be equal. The relayer has verified the signature
//!    before it asks; the payee treats identical bytes as proven (the held receipt was verified) and
//!    verifies any other signature before it answers.
//! 2. **Open.** A channel that is not open (never funded, closed) takes nothing; a closing one takes
//!    receipts until its challenge window ends (`now > closes_at`), while they can still settle.
//! 3. **Stale.** The cumulative must be above everything held or settled.
//! 4. **Deposit.** It must be at most the deposit: beyond it, it can never settle.
//!
//! Where the two copies this replaces disagreed, and how it was settled:
//! - *What a duplicate is.* The payee compared the receipt and signature byte for byte (a re-signed
//!   receipt with the held cumulative was `stale_receipt`); the relayer compared the cumulative. The
//!   cumulative wins: a payer whose signer is not deterministic (a hardware wallet, another library)
//!   re-signs a resend with other bytes, and both sides must answer it as they answered the first, or a
//!   harmless retry becomes an error. The payee still never stores the second copy (first one wins).
//! - *Duplicate before state.* The payee checked the state and the challenge window first, the relayer
//!   the duplicate first. Duplicate first: a retry after a close gets the answer the first try got.
//! - *Stale before deposit* (the payee's order; the relayer checked the deposit first). Both cannot
//!   apply at once (held and settled never exceed the deposit), so only the cheaper check moved first.

use crate::Amount;

/// Where a channel stands, as far as admitting a receipt is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not funded yet, or closed: takes no receipt.
    NotOpen,
    /// Open: takes receipts.
    Open,
    /// A close is under way; with a challenge window, receipts are taken until `closes_at`.
    Closing {
        /// End of the challenge window (the escrow's `closesAt`), if a unilateral close started one.
        closes_at: Option<u64>,
    },
}

/// What the admitting side knows of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelView {
    /// The channel's phase.
    pub phase: Phase,
    /// Its deposit.
    pub deposit: Amount,
    /// What the chain has settled on it.
    pub settled: Amount,
    /// The cumulative of the highest receipt held, if any.
    pub held: Option<Amount>,
}

/// A receipt taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Admission {
    /// Higher than anything held or settled: store it (durably, before answering).
    New,
    /// The cumulative already held: nothing to store; answer as the first copy was answered. This is
    /// what makes resubmission safe.
    Duplicate,
}

/// Why a receipt is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The channel is not open (not funded yet, or closed).
    NotOpen,
    /// The challenge window ended at `closes_at`: no receipt can settle any more.
    ChallengeExpired {
        /// End of the window.
        closes_at: u64,
    },
    /// Not above what is held or settled.
    Stale {
        /// The receipt's cumulative.
        cumulative: Amount,
        /// The highest held or settled.
        latest: Amount,
    },
    /// Above the deposit.
    ExceedsDeposit {
        /// The receipt's cumulative.
        cumulative: Amount,
        /// The deposit.
        deposit: Amount,
    },
}

impl ChannelView {
    /// Whether a receipt of `cumulative` is taken at unix time `now` (see the module's rule).
    pub fn admit(&self, cumulative: Amount, now: u64) -> Result<Admission, Refusal> {
        if self.held == Some(cumulative) {
            return Ok(Admission::Duplicate);
        }
        match self.phase {
            Phase::NotOpen => return Err(Refusal::NotOpen),
            Phase::Closing {
                closes_at: Some(closes_at),
            } if now > closes_at => return Err(Refusal::ChallengeExpired { closes_at }),
            Phase::Open | Phase::Closing { .. } => {}
        }
        let latest = self.held.unwrap_or(0).max(self.settled);
        if cumulative <= latest {
            return Err(Refusal::Stale { cumulative, latest });
        }
        if cumulative > self.deposit {
            return Err(Refusal::ExceedsDeposit {
                cumulative,
                deposit: self.deposit,
            });
        }
        Ok(Admission::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: ChannelView = ChannelView {
        phase: Phase::Open,
        deposit: 100,
        settled: 20,
        held: Some(40),
    };

    #[test]
    fn the_rule_in_order() {
        assert_eq!(OPEN.admit(41, 0), Ok(Admission::New));
        assert_eq!(OPEN.admit(100, 0), Ok(Admission::New));
        assert_eq!(OPEN.admit(40, 0), Ok(Admission::Duplicate));
        assert_eq!(
            OPEN.admit(39, 0),
            Err(Refusal::Stale {
                cumulative: 39,
                latest: 40
            })
        );
        assert_eq!(
            OPEN.admit(101, 0),
            Err(Refusal::ExceedsDeposit {
                cumulative: 101,
                deposit: 100
            })
        );
        let settled_above = ChannelView {
            settled: 50,
            ..OPEN
        };
        assert_eq!(
            settled_above.admit(45, 0),
            Err(Refusal::Stale {
                cumulative: 45,
                latest: 50
            })
        );
        let nothing_held = ChannelView { held: None, ..OPEN };
        assert_eq!(
            nothing_held.admit(20, 0),
            Err(Refusal::Stale {
                cumulative: 20,
                latest: 20
            })
        );
    }

    #[test]
    fn a_duplicate_is_answered_whatever_the_state() {
        for phase in [
            Phase::NotOpen,
            Phase::Closing {
                closes_at: Some(10),
            },
        ] {
            let view = ChannelView { phase, ..OPEN };
            assert_eq!(view.admit(40, 11), Ok(Admission::Duplicate));
        }
    }

    #[test]
    fn closed_and_expired_channels_take_nothing_new() {
        let closed = ChannelView {
            phase: Phase::NotOpen,
            ..OPEN
        };
        assert_eq!(closed.admit(50, 0), Err(Refusal::NotOpen));
        let closing = ChannelView {
            phase: Phase::Closing {
                closes_at: Some(10),
            },
            ..OPEN
        };
        assert_eq!(closing.admit(50, 10), Ok(Admission::New));
        assert_eq!(
            closing.admit(50, 11),
            Err(Refusal::ChallengeExpired { closes_at: 10 })
        );
        let cooperative = ChannelView {
            phase: Phase::Closing { closes_at: None },
            ..OPEN
        };
        assert_eq!(cooperative.admit(50, u64::MAX), Ok(Admission::New));
    }
}
