//! Block references and the pure reorg check.

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

/// A block by number and hash: what the indexer's cursor and a transaction's inclusion point at. Two
/// `BlockRef`s with the same number and different hashes are two forks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// The block number.
    pub number: u64,
    /// The block hash.
    pub hash: B256,
}

impl BlockRef {
    /// A block reference.
    pub const fn new(number: u64, hash: B256) -> Self {
        Self { number, hash }
    }
}

impl core::fmt::Display for BlockRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{} ({})", self.number, self.hash)
    }
}

/// Where to rewind after a reorg: the newest of `stored` (blocks the indexer applied, any order) whose hash
/// equals the canonical chain's hash at its number, as `canonical(number)` reports it (`None`: the chain
/// has no block at that number any more, e.g. after a rollback).
///
/// Returns `Ok(None)` if the newest stored block is still canonical (no reorg), `Ok(Some(block))` for the
/// common ancestor to rewind to, and `Err(oldest)` with the oldest stored number if none is canonical
/// (the reorg is deeper than the history kept). `canonical` is called newest first and stops at the
/// first match, so an RPC-backed closure fetches as few headers as possible.
pub fn find_common_ancestor(
    stored: &[BlockRef],
    mut canonical: impl FnMut(u64) -> Option<B256>,
) -> Result<Option<BlockRef>, u64> {
    let mut sorted: Vec<BlockRef> = stored.to_vec();
    sorted.sort_unstable_by_key(|b| core::cmp::Reverse(b.number));
    let Some(oldest) = sorted.last().map(|b| b.number) else {
        return Ok(None);
    };
    for (i, block) in sorted.iter().enumerate() {
        if canonical(block.number) == Some(block.hash) {
            return Ok(if i == 0 { None } else { Some(*block) });
        }
    }
    Err(oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(number: u64, fork: u8) -> BlockRef {
        BlockRef::new(number, B256::repeat_byte(fork.wrapping_add(number as u8)))
    }

    #[test]
    fn no_reorg_when_the_head_matches() {
        let stored = [b(10, 0), b(11, 0), b(12, 0)];
        let mut asked = vec![];
        let result = find_common_ancestor(&stored, |n| {
            asked.push(n);
            Some(b(n, 0).hash)
        });
        assert_eq!(result, Ok(None));
        assert_eq!(asked, [12], "checks only the newest block");
    }

    #[test]
    fn finds_the_newest_canonical_ancestor() {
        let stored = [b(12, 0), b(10, 0), b(11, 0), b(13, 0)];
        // Blocks 12 and 13 were replaced by fork 1.
        let result =
            find_common_ancestor(&stored, |n| Some(b(n, if n >= 12 { 1 } else { 0 }).hash));
        assert_eq!(result, Ok(Some(b(11, 0))));
    }

    #[test]
    fn a_rolled_back_chain_has_no_block_above_its_head() {
        let stored = [b(5, 0), b(6, 0), b(7, 0)];
        let result = find_common_ancestor(&stored, |n| (n <= 5).then(|| b(n, 0).hash));
        assert_eq!(result, Ok(Some(b(5, 0))));
    }

    #[test]
    fn too_deep_reports_the_oldest_checked() {
        let stored = [b(5, 0), b(6, 0)];
        assert_eq!(
            find_common_ancestor(&stored, |n| Some(b(n, 9).hash)),
            Err(5)
        );
        assert_eq!(find_common_ancestor(&[], |_| None), Ok(None));
    }
}
