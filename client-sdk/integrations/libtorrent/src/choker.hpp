// Who gets a selling session's upload slots: the highest bidders, with a share kept for peers that do not
// pay (the SDK's rank_unchoke, through the C ABI), plus optimistic unchokes that rotate through everyone
// else so low bidders and newcomers still progress. libtorrent's settings still say how many slots there
// are (`unchoke_slots_limit`) and how long an optimistic unchoke lasts (`optimistic_unchoke_interval`);
// this says who holds them. Runs on libtorrent's network thread only.
#pragma once

#include <piecepay.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace piecepay::torrent {

/// A connection that may hold an upload slot (the plugin's peer plugin of a selling session).
class SlotPeer {
 public:
  virtual ~SlotPeer() = default;
  /// Whether it wants a slot now: interested, and servable (a funded channel within its credit window, or
  /// free share left).
  virtual bool wants_slot() const = 0;
  /// The price per piece accepted on its funded channel; zero when it does not pay.
  virtual PiecepayAmount bid() const = 0;
  /// Payload bytes it sent us since the previous call (what it gives back: the tit-for-tat rank).
  virtual std::uint64_t take_received() = 0;
  virtual bool choked() const = 0;
  /// Chokes it (libtorrent's choke_this_peer).
  virtual void choke() = 0;
  /// Unchokes it (libtorrent's maybe_unchoke_this_peer, which always unchokes once the choker took over).
  virtual void unchoke() = 0;
};

/// How the slots are shared.
struct SlotPolicy {
  /// Slots given by rank; negative: unlimited (everyone who wants one holds one).
  int slots = 8;
  /// Slots given optimistically, on top of the ranked ones, to peers that hold no ranked slot.
  int optimistic = 1;
  /// How long an optimistic unchoke lasts before the next peer's turn.
  std::chrono::seconds optimistic_interval{30};
  /// Percentage of the ranked slots kept for peers that do not pay while there are such peers (0–100).
  std::uint8_t reserved_percent = 20;
};

/// One session's slots. Until the first `rank`, nothing is enforced (libtorrent's own choker still runs).
class Choker {
 public:
  using Clock = std::chrono::steady_clock;

  /// A new connection; forgotten once it is gone.
  void add(std::weak_ptr<SlotPeer> peer);

  /// Whether `peer` may be served now: it holds a slot, or the choker has not ranked anyone yet.
  bool holds(const SlotPeer& peer) const;

  /// `peer` now wants a slot (its channel was funded, a receipt brought it back under its credit, it
  /// became interested): it takes a free ranked slot at once if there is one, else waits for the next
  /// ranking. Returns whether it holds a slot.
  bool offer(const SlotPeer& peer);

  /// Once a second: ranks everyone who wants a slot under `policy`, rotates the optimistic unchokes, then
  /// chokes whoever lost a slot and unchokes whoever won one. Throws std::invalid_argument on a policy the
  /// C ABI refuses (reserved_percent above 100).
  void rank(const SlotPolicy& policy, Clock::time_point now);

 private:
  struct Entry {
    std::weak_ptr<SlotPeer> peer;
    const SlotPeer* key = nullptr;
    bool ranked = false;
    bool optimistic = false;
    /// When its current or last optimistic unchoke began (epoch: never): the longest waiting goes first.
    Clock::time_point optimistic_since{};
  };

  Entry* find(const SlotPeer& peer);
  const Entry* find(const SlotPeer& peer) const;
  /// Ranked slots held by peers that still want them.
  int ranked_in_use() const;

  std::vector<Entry> entries_;  ///< in order of connection (ties in the ranking keep it)
  SlotPolicy policy_;
  bool ranking_ = false;  ///< set by the first rank()
};

}  // namespace piecepay::torrent
