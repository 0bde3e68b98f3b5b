// Counting whole pieces out of block traffic. Payee and payer count the same thing: a piece counts for a
// peer once *every* byte of it went over that peer's connection. A piece fetched from several peers
// (end-game, several seeders) is charged by none and paid to none, so both sides stay in step without
// talking about it.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

namespace piecepay::torrent {

/// Piece geometry of a torrent: every piece is `piece_length` bytes except the last.
struct PieceGeometry {
  std::int64_t total_size = 0;
  int piece_length = 0;
  int num_pieces = 0;

  /// Size of piece `piece` in bytes (0 for an index outside the torrent).
  int size(int piece) const {
    if (piece < 0 || piece >= num_pieces) return 0;
    if (piece + 1 < num_pieces) return piece_length;
    return static_cast<int>(total_size - static_cast<std::int64_t>(piece_length) * (num_pieces - 1));
  }
};

/// Bytes of each piece that went over one connection, reporting when a piece is complete.
class PieceTally {
 public:
  explicit PieceTally(PieceGeometry geometry) : geometry_(geometry) {}

  /// Adds a block of `length` bytes of `piece`; true exactly once, when the piece becomes complete.
  /// Blocks past completion (end-game duplicates) and blocks of out-of-range pieces return false.
  bool add(int piece, int length) {
    const int size = geometry_.size(piece);
    if (size == 0 || length <= 0 || done_.count(piece) != 0) return false;
    int& bytes = bytes_[piece];
    bytes += length;
    if (bytes < size) return false;
    bytes_.erase(piece);
    done_.insert(piece);
    return true;
  }

  /// Whether every byte of `piece` went over this connection.
  bool complete(int piece) const { return done_.count(piece) != 0; }

  const PieceGeometry& geometry() const { return geometry_; }

 private:
  PieceGeometry geometry_;
  std::unordered_map<int, int> bytes_;
  std::unordered_set<int> done_;
};

/// Payer-side pairing of "received whole from this peer" and "passed the hash check": a piece is paid
/// when both happened, in whichever order.
class PaidPieces {
 public:
  explicit PaidPieces(PieceGeometry geometry) : received_(geometry) {}

  /// A block arrived; true when this completes a piece that had already passed: pay it now.
  bool on_block(int piece, int length) {
    if (!received_.add(piece, length)) return false;
    return passed_.erase(piece) != 0;
  }

  /// The piece passed its hash check; true when it was received whole from this peer: pay it now.
  bool on_pass(int piece) {
    if (received_.complete(piece)) return true;
    passed_.insert(piece);
    return false;
  }

 private:
  PieceTally received_;
  std::unordered_set<int> passed_;
};

}  // namespace piecepay::torrent
