//! The payee's choice of whom to unchoke, for engines that pick their own upload slots: the SDK's
//! [`rank_unchoke`] (paying peers by bid, a share of the slots kept for peers that do not pay), so a C or
//! C++ engine applies the very rule a Rust one does.

#![allow(unsafe_code)]

use piecepay_sdk::{Candidate, UnchokePolicy, rank_unchoke};

use crate::{Error, PiecepayStatus, last_error::guard, ptr as p, types::PiecepayAmount};

/// How a payee shares its upload slots.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PiecepayUnchokePolicy {
    /// Upload slots: peers unchoked at once by rank.
    pub slots: usize,
    /// Percentage of the slots (0–100), rounded up, kept for peers that do not pay while there are such
    /// peers. Slots nobody of one kind claims go to the other.
    pub reserved_percent: u8,
}

/// A peer that wants pieces (it is interested), as a payee sees it when choosing whom to unchoke.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PiecepayUnchokeCandidate {
    /// The caller's id for the peer, returned in the ranking.
    pub peer: u64,
    /// The accepted price per piece on the peer's funded channel; zero when it does not pay. Leave out a
    /// paying peer that is over its credit window (it cannot be served until it pays).
    pub bid: PiecepayAmount,
    /// What the peer gives back, e.g. the bytes it sent us in the last round: the tit-for-tat rank.
    pub reciprocation: u64,
}

/// Chooses whom to unchoke among `len` `candidates`: at most `policy.slots` peers, paying ones by bid
/// (highest first, then by reciprocation), then the others by reciprocation, with
/// `ceil(slots × reserved_percent / 100)` slots kept for peers that do not pay while there are such peers.
/// Ties keep the input order, so the ranking is deterministic; an optimistic unchoke is the caller's.
///
/// Writes the chosen peers' ids, best first, to `out` and their number to `*out_len`; `out` has room for
/// `out_cap` ids, which must be at least `min(policy.slots, len)` (`INVALID_ARGUMENT` otherwise).
/// `INVALID_POLICY` when `reserved_percent` is above 100.
///
/// # Safety
/// `policy` must be valid for reads; `candidates` must point to `len` readable candidates (NULL if `len`
/// is 0); `out` must be valid for writes of `out_cap` ids (NULL if `out_cap` is 0); `out_len` valid for
/// writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_rank_unchoke(
    policy: *const PiecepayUnchokePolicy,
    candidates: *const PiecepayUnchokeCandidate,
    len: usize,
    out: *mut u64,
    out_cap: usize,
    out_len: *mut usize,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { p::put(out_len, 0, "out_len")? };
        let policy = unsafe { p::read(policy, "policy")? };
        let candidates = unsafe { p::slice(candidates, len, "candidates")? };
        let out = unsafe { p::slice_mut(out, out_cap, "out")? };
        let policy = UnchokePolicy {
            slots: policy.slots,
            reserved_percent: policy.reserved_percent,
        };
        policy.validate()?;
        if out.len() < policy.slots.min(candidates.len()) {
            return Err(Error::InvalidArgument("out_cap"));
        }
        let ranked = rank_unchoke(
            &policy,
            candidates.iter().map(|c| Candidate {
                peer: c.peer,
                bid: Some(u128::from(c.bid)),
                reciprocation: c.reciprocation,
            }),
        );
        out[..ranked.len()].copy_from_slice(&ranked);
        // SAFETY: the caller's contract.
        unsafe { p::put(out_len, ranked.len(), "out_len") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(peer: u64, bid: u128, reciprocation: u64) -> PiecepayUnchokeCandidate {
        PiecepayUnchokeCandidate {
            peer,
            bid: bid.into(),
            reciprocation,
        }
    }

    fn rank(
        slots: usize,
        reserved_percent: u8,
        candidates: &[PiecepayUnchokeCandidate],
        out_cap: usize,
    ) -> Result<Vec<u64>, PiecepayStatus> {
        let policy = PiecepayUnchokePolicy {
            slots,
            reserved_percent,
        };
        let mut out = vec![0_u64; out_cap];
        let mut len = usize::MAX;
        // SAFETY: every pointer is valid for its length.
        let status = unsafe {
            piecepay_rank_unchoke(
                &policy,
                candidates.as_ptr(),
                candidates.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut len,
            )
        };
        if status != PiecepayStatus::Ok {
            assert_eq!(len, 0, "a failed call reports no peers");
            return Err(status);
        }
        out.truncate(len);
        Ok(out)
    }

    #[test]
    fn paying_peers_by_bid_with_a_share_kept_for_the_others() {
        let peers = [
            candidate(1, 0, 500),
            candidate(2, 10, 0),
            candidate(3, 30, 0),
            candidate(4, 20, 0),
            candidate(5, 0, 900),
        ];
        // 3 slots, 20 % kept: one for the best free peer (5, by reciprocation), two by bid.
        assert_eq!(rank(3, 20, &peers, 3), Ok(vec![3, 4, 5]));
        // Nothing kept: the three best bids.
        assert_eq!(rank(3, 0, &peers, 5), Ok(vec![3, 4, 2]));
        // More slots than peers: everyone, payers first.
        assert_eq!(rank(8, 20, &peers, 5), Ok(vec![3, 4, 2, 5, 1]));
        // No free peer: the kept share goes to payers.
        assert_eq!(rank(2, 50, &peers[1..4], 2), Ok(vec![3, 4]));
    }

    #[test]
    fn equal_bids_rank_by_reciprocation_then_input_order() {
        let peers = [
            candidate(1, 10, 0),
            candidate(2, 10, 7),
            candidate(3, 10, 0),
        ];
        assert_eq!(rank(3, 0, &peers, 3), Ok(vec![2, 1, 3]));
    }

    #[test]
    fn bad_policy_or_short_output_is_refused() {
        let peers = [candidate(1, 10, 0), candidate(2, 0, 0)];
        assert_eq!(rank(2, 101, &peers, 2), Err(PiecepayStatus::InvalidPolicy));
        assert_eq!(rank(2, 0, &peers, 1), Err(PiecepayStatus::InvalidArgument));
        assert_eq!(rank(0, 0, &peers, 0), Ok(vec![]));
        assert_eq!(rank(2, 0, &[], 0), Ok(vec![]));
        // SAFETY: NULL pointers are what is tested.
        let status = unsafe {
            piecepay_rank_unchoke(
                std::ptr::null(),
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                0,
                &mut 0,
            )
        };
        assert_eq!(status, PiecepayStatus::NullArgument);
    }
}
