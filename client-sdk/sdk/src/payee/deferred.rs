//! Deferred receipt verification: a payee checks each receipt cheaply on arrival and holds the newest,
//! and spends the signature recovery only when it matters.
//!
//! A payer that keeps up sends one receipt per piece; verifying each costs a recovery (~40 µs), which a
//! torrent client would rather not spend on its network thread. Receipts are cumulative, so verifying
//! only the newest accepts everything before it. It is due ([`DeferredReceipt::due`]) once the peer owes
//! half its credit window counted against the last *verified* receipt, or the channel is no longer simply
//! open; otherwise on the caller's timer (about once a second), before a close, and when the peer goes
//! away. Credit is only ever extended against verified receipts, so the payee's exposure stays within the
//! credit window; a forged receipt held costs only the peer that sent it (only it can send on its
//! connection), since it is let go when verification fails.

use piecepay_protocol::{CompactSignature, Receipt};

use super::{Accepted, PayeeChannel, PayeeState};
use crate::{Result, Signed, SignedReceipt, error::Error};

/// What became of a receipt handed to [`DeferredReceipt::on_receipt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The last receipt accepted, sent again because its acknowledgement went missing: accepted again
    /// for nothing (no recovery). Save it (idempotent) and acknowledge it; a receipt held stays held.
    Resent(Accepted),
    /// The receipt already held, sent again: nothing to do until it is verified.
    AlreadyHeld,
    /// Held, replacing an older receipt held; verify it now when `verify_now` ([`DeferredReceipt::due`]).
    Held {
        /// Whether verification is due already.
        verify_now: bool,
    },
}

/// The newest receipt of one channel that passed the cheap checks and waits for its recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeferredReceipt {
    held: Option<SignedReceipt>,
}

impl DeferredReceipt {
    /// Nothing held.
    pub const fn new() -> Self {
        Self { held: None }
    }

    /// The receipt held, unverified.
    pub const fn held(&self) -> Option<&SignedReceipt> {
        self.held.as_ref()
    }

    /// A receipt arrived on `channel`: runs [`PayeeChannel::precheck_receipt`] and holds it. Never
    /// recovers a signature. A receipt at or below the one held is [`Error::StaleReceipt`] (the payer
    /// never signs one), and nothing changes on an error.
    pub fn on_receipt(
        &mut self,
        channel: &mut PayeeChannel,
        receipt: Receipt,
        signature: CompactSignature,
        now: u64,
    ) -> Result<Arrival> {
        if channel.precheck_receipt(&receipt, &signature, now)? {
            return channel
                .on_receipt(&receipt, &signature, now)
                .map(Arrival::Resent);
        }
        let arrived = Signed {
            message: receipt,
            signature,
        };
        if let Some(held) = &self.held {
            if *held == arrived {
                return Ok(Arrival::AlreadyHeld);
            }
            if arrived.cumulative() <= held.cumulative() {
                return Err(Error::StaleReceipt {
                    cumulative: arrived.cumulative(),
                    latest: held.cumulative(),
                });
            }
        }
        self.held = Some(arrived);
        Ok(Arrival::Held {
            verify_now: self.due(channel),
        })
    }

    /// Whether the receipt held should be verified now: the peer owes half its credit window against
    /// the last verified receipt (so its credit never runs out while a receipt that covers it waits), or
    /// the channel is no longer simply open. False with nothing held.
    pub fn due(&self, channel: &PayeeChannel) -> bool {
        if self.held.is_none() {
            return false;
        }
        match channel.state() {
            PayeeState::Open { account } => {
                account.owed().saturating_mul(2) >= channel.terms().credit_limit()
            }
            _ => true,
        }
    }

    /// Verifies the receipt held, if any, and accepts it on `channel` ([`PayeeChannel::on_receipt`]):
    /// `Ok(None)` with nothing held. The receipt is let go either way: one that fails verification is the
    /// error, and is never tried again.
    pub fn verify(&mut self, channel: &mut PayeeChannel, now: u64) -> Result<Option<Accepted>> {
        let Some(held) = self.held.take() else {
            return Ok(None);
        };
        channel
            .on_receipt(&held.message, &held.signature, now)
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::alloy_primitives::aliases::U96;

    use super::*;
    use crate::{
        Amount, Channel, CreditWindow, Terms,
        channel::tests::{channel_between, key},
    };

    const PRICE: Amount = 10;
    const T0: u64 = 1_000;

    fn channel() -> Channel {
        channel_between(&key(1), &key(2), 7)
    }

    /// Open with a deposit of 1,000 and a credit window of 4 pieces (40).
    fn open() -> PayeeChannel {
        let mut ch = PayeeChannel::new(
            channel(),
            Terms::new(PRICE, CreditWindow::Pieces(4)).unwrap(),
            T0,
        );
        ch.on_channel_opened(1_000, T0).unwrap();
        ch
    }

    fn signed_by(signer: u8, cumulative: Amount) -> SignedReceipt {
        let message = Receipt {
            payee: channel().payee(),
            salt: channel().salt(),
            cumulative: U96::from(cumulative),
        };
        let signer = key(signer);
        channel().sign(&signer, signer.address(), message).unwrap()
    }

    fn arrive(
        d: &mut DeferredReceipt,
        ch: &mut PayeeChannel,
        r: &SignedReceipt,
    ) -> Result<Arrival> {
        d.on_receipt(ch, r.message.clone(), r.signature, T0)
    }

    fn serve(ch: &mut PayeeChannel, pieces: usize) {
        for _ in 0..pieces {
            // Within the window in every test: the decision is always to serve.
            assert_eq!(ch.on_piece_served(T0).unwrap(), crate::ServeDecision::Serve);
        }
    }

    #[test]
    fn receipts_are_held_until_verified_together() {
        let (mut ch, mut d) = (open(), DeferredReceipt::new());
        serve(&mut ch, 1);
        assert_eq!(
            arrive(&mut d, &mut ch, &signed_by(1, 10)),
            Ok(Arrival::Held { verify_now: false })
        );
        assert_eq!(ch.paid(), 0, "nothing accepted before verification");
        serve(&mut ch, 1);
        assert_eq!(
            arrive(&mut d, &mut ch, &signed_by(1, 20)),
            Ok(Arrival::Held { verify_now: true }),
            "owes 2 of a 4-piece window: due"
        );
        assert_eq!(d.held().map(SignedReceipt::cumulative), Some(20));
        let accepted = d.verify(&mut ch, T0).unwrap().unwrap();
        assert_eq!((accepted.delta, accepted.cumulative), (20, 20));
        assert_eq!(ch.paid(), 20);
        assert_eq!(d.held(), None);
        assert_eq!(d.verify(&mut ch, T0), Ok(None), "nothing held");
    }

    #[test]
    fn due_counts_against_verified_receipts_only() {
        let (mut ch, mut d) = (open(), DeferredReceipt::new());
        assert!(!d.due(&ch), "nothing held");
        serve(&mut ch, 3);
        // The peer owes 3 pieces against what is verified (nothing), whatever the receipt held says.
        assert_eq!(
            arrive(&mut d, &mut ch, &signed_by(1, 30)),
            Ok(Arrival::Held { verify_now: true })
        );
        d.verify(&mut ch, T0).unwrap();
        serve(&mut ch, 1);
        arrive(&mut d, &mut ch, &signed_by(1, 40)).unwrap();
        assert!(!d.due(&ch), "owes 1 of 4 against the verified 30");
    }

    #[test]
    fn a_channel_not_simply_open_is_always_due() {
        let (mut ch, mut d) = (open(), DeferredReceipt::new());
        serve(&mut ch, 1);
        arrive(&mut d, &mut ch, &signed_by(1, 10)).unwrap();
        assert!(!d.due(&ch));
        ch.on_close_requested(T0 + 600, T0).unwrap();
        assert!(d.due(&ch));
    }

    #[test]
    fn resends_and_stale_receipts() {
        let (mut ch, mut d) = (open(), DeferredReceipt::new());
        serve(&mut ch, 3);
        let (r10, r20, r30) = (signed_by(1, 10), signed_by(1, 20), signed_by(1, 30));
        arrive(&mut d, &mut ch, &r10).unwrap();
        d.verify(&mut ch, T0).unwrap();
        arrive(&mut d, &mut ch, &r30).unwrap();
        // The last accepted, again: re-accepted at once (delta 0); the one held stays held.
        let Ok(Arrival::Resent(accepted)) = arrive(&mut d, &mut ch, &r10) else {
            panic!("a resend of the accepted receipt");
        };
        assert_eq!((accepted.delta, accepted.cumulative), (0, 10));
        assert_eq!(d.held().map(SignedReceipt::cumulative), Some(30));
        assert_eq!(arrive(&mut d, &mut ch, &r30), Ok(Arrival::AlreadyHeld));
        assert_eq!(
            arrive(&mut d, &mut ch, &r20),
            Err(Error::StaleReceipt {
                cumulative: 20,
                latest: 30
            })
        );
        assert_eq!(
            d.held().map(SignedReceipt::cumulative),
            Some(30),
            "an error changes nothing"
        );
        // Below what is accepted: the channel's own check.
        assert_eq!(
            arrive(&mut d, &mut ch, &signed_by(1, 5))
                .unwrap_err()
                .code(),
            "stale_receipt"
        );
    }

    #[test]
    fn a_forged_receipt_is_refused_at_verification_and_let_go() {
        let (mut ch, mut d) = (open(), DeferredReceipt::new());
        serve(&mut ch, 2);
        arrive(&mut d, &mut ch, &signed_by(1, 10)).unwrap();
        d.verify(&mut ch, T0).unwrap();
        // Signed by another key: passes the cheap checks, fails the recovery.
        arrive(&mut d, &mut ch, &signed_by(3, 20)).unwrap();
        assert_eq!(d.verify(&mut ch, T0).unwrap_err().code(), "wrong_signer");
        assert_eq!(d.held(), None);
        assert_eq!(ch.paid(), 10, "the channel keeps what was verified");
        // The real one is then taken as usual.
        arrive(&mut d, &mut ch, &signed_by(1, 20)).unwrap();
        assert_eq!(d.verify(&mut ch, T0).unwrap().unwrap().cumulative, 20);
    }

    #[test]
    fn the_cheap_checks_run_on_arrival() {
        let mut d = DeferredReceipt::new();
        let mut proposed = PayeeChannel::new(
            channel(),
            Terms::new(PRICE, CreditWindow::Pieces(4)).unwrap(),
            T0,
        );
        assert_eq!(
            arrive(&mut d, &mut proposed, &signed_by(1, 10))
                .unwrap_err()
                .code(),
            "invalid_state"
        );
        let mut ch = open();
        assert_eq!(
            arrive(&mut d, &mut ch, &signed_by(1, 1_001))
                .unwrap_err()
                .code(),
            "exceeds_deposit"
        );
        assert_eq!(d.held(), None);
    }
}
