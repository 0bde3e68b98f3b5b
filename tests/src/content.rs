//! The file a swarm shares: real bytes cut into pieces, each with its SHA-1 hash as in a `.torrent`.

use sha1::{Digest, Sha1};

/// A generated file, its piece length and the SHA-1 of every piece.
pub struct Content {
    bytes: Vec<u8>,
    piece_len: usize,
    hashes: Vec<[u8; 20]>,
}

impl Content {
    /// `len` pseudo-random bytes from `seed` (xorshift64*: deterministic, not compressible), cut into
    /// pieces of `piece_len` (the last one may be shorter).
    ///
    /// Panics if `piece_len` is zero: a caller's bug, not input.
    pub fn generate(len: usize, piece_len: usize, seed: u64) -> Self {
        assert!(piece_len > 0, "piece length must be positive");
        // xorshift needs a non-zero state; the golden-ratio offset keeps nearby seeds apart.
        let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15).max(1);
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        bytes.truncate(len);
        let hashes = bytes
            .chunks(piece_len)
            .map(|piece| Sha1::digest(piece).into())
            .collect();
        Self {
            bytes,
            piece_len,
            hashes,
        }
    }

    /// How many pieces.
    pub fn pieces(&self) -> usize {
        self.hashes.len()
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file is empty (no pieces).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes of piece `index`, as a seeder sends them; `None` past the last piece.
    pub fn piece(&self, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(self.piece_len)?;
        if start >= self.bytes.len() {
            return None;
        }
        Some(&self.bytes[start..(start + self.piece_len).min(self.bytes.len())])
    }

    /// The hash check a leecher runs on a piece it received.
    pub fn verify(&self, index: usize, data: &[u8]) -> bool {
        self.hashes
            .get(index)
            .is_some_and(|hash| <[u8; 20]>::from(Sha1::digest(data)) == *hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_file_and_pass_their_hash_check() {
        let content = Content::generate(10 * 1024 + 5, 1024, 7);
        assert_eq!(content.pieces(), 11);
        assert_eq!(content.piece(10).unwrap().len(), 5);
        assert!(content.piece(11).is_none());
        let joined: Vec<u8> = (0..content.pieces())
            .flat_map(|i| content.piece(i).unwrap().to_vec())
            .collect();
        assert_eq!(joined.len(), content.len());
        for i in 0..content.pieces() {
            assert!(content.verify(i, content.piece(i).unwrap()));
        }
    }

    #[test]
    fn a_corrupted_piece_fails_its_hash_check() {
        let content = Content::generate(4096, 1024, 7);
        let mut piece = content.piece(1).unwrap().to_vec();
        piece[100] ^= 1;
        assert!(!content.verify(1, &piece));
        assert!(!content.verify(9, content.piece(1).unwrap()));
    }

    #[test]
    fn the_same_seed_gives_the_same_file() {
        let a = Content::generate(5000, 512, 42);
        let b = Content::generate(5000, 512, 42);
        let c = Content::generate(5000, 512, 43);
        assert_eq!(a.bytes, b.bytes);
        assert_ne!(a.bytes, c.bytes);
    }
}
