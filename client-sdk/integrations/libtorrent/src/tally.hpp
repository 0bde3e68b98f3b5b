// Counting pieces out of block traffic, so that payer and payee agree without talking about it. A payee
// charges a peer for a piece once every byte of it went over that peer's connection (`PieceTally`). A
// payer pays each piece that passed its hash check exactly once, to the peer that supplied most of its
// bytes (`PieceLedger`): the peer that sent the whole piece, when one did. A piece split between peers
// (a choke mid-piece, end-game, several seeders) is paid to its main supplier, which did not charge for
// it — that payee is then paid a little ahead of what it counted, never behind, and the payer pays for
// every piece it got.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

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
  /// (Counting a piece earlier, e.g. at half, would choke a peer at its credit or deposit edge in the
  /// middle of a piece it was charged for.)
  bool add(int piece, int length) {
    const int size = geometry_.size(piece);
    if (size == 0 || length <= 0 || done_.count(piece) != 0) return false;
    std::int64_t& bytes = bytes_[piece];
    bytes += length;
    if (bytes < size) return false;
    bytes_.erase(piece);
    done_.insert(piece);
    return true;
  }

  /// Whether every byte of `piece` went over this connection.
  bool complete(int piece) const { return done_.count(piece) != 0; }

  /// Whether some piece went over this connection only in part (so far).
  bool partial() const { return !bytes_.empty(); }

  const PieceGeometry& geometry() const { return geometry_; }

 private:
  PieceGeometry geometry_;
  std::unordered_map<int, std::int64_t> bytes_;
  std::unordered_set<int> done_;
};

/// Payee side, one per connection: the pieces the engine accepted requests for that have not gone out whole
/// yet ("open"). A piece is charged (`PieceTally`) only once sent whole, so without this an engine accepts
/// every request a peer pipelines while its last allowed piece is on its way, and whatever it read into its
/// send buffer still goes out once the peer is choked. Requests are admitted for at most the peer's
/// allowance (the whole pieces it may have now) of open pieces. A piece stays open until it went out whole
/// or the peer announces it has it (got it elsewhere), so a peer taking parts of pieces never holds more
/// than its allowance of them either.
class Backlog {
 public:
  /// Whether to accept a request for a block of `piece` from a peer allowed `allowance` more whole pieces:
  /// yes for a piece already open (its charge is already counted against the allowance), or when the
  /// open pieces leave room for one more (it is then open).
  bool admit(int piece, std::uint64_t allowance) {
    if (open_.count(piece) != 0) return true;
    if (open_.size() >= allowance) return false;
    open_.insert(piece);
    return true;
  }

  /// `piece` is closed: it went out whole (and is charged), or the peer has it.
  void close(int piece) { open_.erase(piece); }

  /// Pieces open.
  std::size_t open() const { return open_.size(); }

 private:
  std::unordered_set<int> open_;
};

/// Payer side, one per torrent: which connection delivered how many bytes of each piece, and so who is
/// paid for a piece once it passes its hash check. Every passed piece is paid exactly once: to the
/// connection that delivered the most bytes of it (the first of equals, in order of first block). When
/// one peer sent the whole piece — the normal case — that peer is paid, and it is also the one that
/// counted it as served (`PieceTally`). A piece split between peers (a choke mid-piece, end-game) is paid
/// to its main supplier rather than to nobody, so a payer always pays for everything it received; that
/// supplier is paid one piece more than it counted as served, which only ever widens its credit.
/// `Key` identifies a connection (cheap to copy and compare; a null key means "nobody to pay").
template <class Key>
class PieceLedger {
 public:
  explicit PieceLedger(PieceGeometry geometry)
      : geometry_(geometry), passed_(static_cast<std::size_t>(geometry.num_pieces > 0 ? geometry.num_pieces : 0)) {}

  /// A block of `length` bytes of `piece` arrived over connection `key`. Blocks of pieces that already
  /// passed (end-game duplicates) and of pieces outside the torrent are ignored.
  void add(const Key& key, int piece, int length) {
    if (geometry_.size(piece) == 0 || length <= 0 || passed_[static_cast<std::size_t>(piece)]) return;
    auto& suppliers = pieces_[piece];
    for (auto& s : suppliers) {
      if (s.first == key) {
        s.second += length;
        return;
      }
    }
    suppliers.emplace_back(key, length);
  }

  /// The piece passed its hash check: whom to pay for it (a default-constructed Key when no block of it
  /// was seen, e.g. a piece already on disk). Exactly one answer per pass.
  Key on_pass(int piece) {
    if (geometry_.size(piece) == 0) return Key{};
    passed_[static_cast<std::size_t>(piece)] = true;
    auto it = pieces_.find(piece);
    if (it == pieces_.end()) return Key{};
    Key best{};
    std::int64_t most = 0;
    for (auto const& s : it->second) {
      if (s.second > most) {
        most = s.second;
        best = s.first;
      }
    }
    pieces_.erase(it);
    return best;
  }

  /// The piece failed its hash check: it will be downloaded again, nobody is paid for this attempt.
  void on_fail(int piece) {
    if (geometry_.size(piece) == 0) return;
    pieces_.erase(piece);
    passed_[static_cast<std::size_t>(piece)] = false;
  }

  /// Pieces with blocks seen and no verdict yet.
  std::size_t pending() const { return pieces_.size(); }

 private:
  PieceGeometry geometry_;
  std::vector<bool> passed_;
  std::unordered_map<int, std::vector<std::pair<Key, std::int64_t>>> pieces_;
};

}  // namespace piecepay::torrent
