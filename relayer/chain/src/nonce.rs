//! The signer's next nonce, from the chain and the journal.
//!
//! The journal is the memory (every nonce handed out is stored with its job before signing), the chain is
//! the truth about what is mined or pending (including transactions sent from the same key elsewhere, or
//! before a crash). The next nonce is above all three, so a nonce is never handed out twice, and a nonce
//! whose transaction was dropped is not skipped: its job still holds it and rebroadcasts it.

/// Hands out the signer's nonces; [`resync`](Self::resync) it from the chain and the journal every
/// round, [`allocate`](Self::allocate) within one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonceManager {
    next: u64,
}

impl NonceManager {
    /// A manager that hands out `next` first (before any resync).
    pub const fn new(next: u64) -> Self {
        Self { next }
    }

    /// Resyncs from the chain's `eth_getTransactionCount` at `latest` (mined) and `pending`, and the
    /// highest nonce the journal's unfinished jobs hold. Returns the next nonce.
    ///
    /// Moves forward only if the chain or journal are ahead; moves **back** to `max(latest, pending,
    /// journal + 1)` if this manager was ahead (a nonce allocated but whose intent never reached the
    /// journal: no transaction uses it, so it must be reused or every later one stalls).
    pub fn resync(&mut self, latest: u64, pending: u64, journal_highest: Option<u64>) -> u64 {
        let journal_next = journal_highest.map_or(0, |n| n.saturating_add(1));
        self.next = latest.max(pending).max(journal_next);
        self.next
    }

    /// The next nonce, without handing it out.
    pub const fn peek(&self) -> u64 {
        self.next
    }

    /// Hands out the next nonce. Store it with its job before using it.
    pub fn allocate(&mut self) -> u64 {
        let nonce = self.next;
        self.next += 1;
        nonce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_takes_the_highest_source() {
        let mut nonces = NonceManager::default();
        assert_eq!(nonces.resync(3, 3, None), 3);
        assert_eq!(
            nonces.resync(3, 5, None),
            5,
            "pending transactions from elsewhere"
        );
        assert_eq!(nonces.resync(3, 3, Some(7)), 8, "jobs in flight");
        assert_eq!(nonces.resync(9, 9, Some(7)), 9, "mined past the journal");
    }

    #[test]
    fn allocate_hands_out_each_nonce_once() {
        let mut nonces = NonceManager::new(4);
        assert_eq!([nonces.allocate(), nonces.allocate()], [4, 5]);
        assert_eq!(nonces.peek(), 6);
    }

    #[test]
    fn an_unrecorded_allocation_is_reused_after_resync() {
        let mut nonces = NonceManager::default();
        nonces.resync(2, 2, None);
        // Allocated, but its intent never reached the journal (a store error).
        assert_eq!(nonces.allocate(), 2);
        assert_eq!(nonces.resync(2, 2, None), 2);
        // A dropped transaction (not pending any more) keeps its nonce: its job holds it.
        assert_eq!(nonces.resync(2, 2, Some(4)), 5);
    }
}
