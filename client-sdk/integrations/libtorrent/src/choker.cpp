#include "choker.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ffi_common.hpp"

namespace piecepay::torrent {

void Choker::add(std::weak_ptr<SlotPeer> peer) {
  auto const locked = peer.lock();
  if (!locked) return;
  entries_.push_back(Entry{std::move(peer), locked.get()});
}

Choker::Entry* Choker::find(const SlotPeer& peer) {
  for (Entry& e : entries_)
    if (e.key == &peer && !e.peer.expired()) return &e;
  return nullptr;
}

const Choker::Entry* Choker::find(const SlotPeer& peer) const { return const_cast<Choker*>(this)->find(peer); }

bool Choker::holds(const SlotPeer& peer) const {
  if (!ranking_) return true;
  const Entry* e = find(peer);
  return e != nullptr && (e->ranked || e->optimistic);
}

int Choker::ranked_in_use() const {
  int n = 0;
  for (Entry const& e : entries_) {
    if (!e.ranked) continue;
    auto const p = e.peer.lock();
    n += p && p->wants_slot();
  }
  return n;
}

bool Choker::offer(const SlotPeer& peer) {
  if (!ranking_) return true;
  Entry* e = find(peer);
  if (e == nullptr) return false;
  if (e->ranked || e->optimistic) return true;
  if (!peer.wants_slot()) return false;
  if (policy_.slots >= 0 && ranked_in_use() >= policy_.slots) return false;
  e->ranked = true;
  return true;
}

void Choker::rank(const SlotPolicy& policy, Clock::time_point now) {
  // Connections that are gone are forgotten; the others are held for the round.
  std::vector<std::shared_ptr<SlotPeer>> peers;
  std::vector<Entry> live;
  for (Entry& e : entries_) {
    if (auto p = e.peer.lock()) {
      peers.push_back(std::move(p));
      live.push_back(std::move(e));
    }
  }
  entries_ = std::move(live);
  std::vector<PiecepayUnchokeCandidate> candidates;
  std::vector<bool> wants(entries_.size(), false);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    SlotPeer& p = *peers[i];
    // Read every round, so a peer's count is always that of the last round.
    std::uint64_t const received = p.take_received();
    if (!p.wants_slot()) continue;
    wants[i] = true;
    candidates.push_back(PiecepayUnchokeCandidate{i, p.bid(), received});
  }

  // Ranked slots: the SDK's rule.
  std::vector<std::uint64_t> ranked(candidates.size());
  std::size_t n_ranked = 0;
  if (policy.slots < 0) {
    for (auto const& c : candidates) ranked[n_ranked++] = c.peer;
  } else {
    PiecepayUnchokePolicy const rule{static_cast<std::size_t>(policy.slots), policy.reserved_percent};
    if (piecepay_rank_unchoke(&rule, candidates.data(), candidates.size(), ranked.data(), ranked.size(), &n_ranked) !=
        PIECEPAY_STATUS_OK)
      throw std::invalid_argument(ffi::last_error());
  }
  for (Entry& e : entries_) e.ranked = false;
  for (std::size_t k = 0; k < n_ranked; ++k) entries_[ranked[k]].ranked = true;

  // Optimistic unchokes: a turn lasts the interval; then whoever waited longest since its last turn
  // (never: first), the higher bid first among equals, then the earlier connection.
  int optimistic = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (e.optimistic && (!wants[i] || e.ranked || now - e.optimistic_since >= policy.optimistic_interval))
      e.optimistic = false;
    optimistic += e.optimistic;
  }
  int const want_optimistic = policy.slots < 0 ? 0 : policy.optimistic;
  while (optimistic < want_optimistic) {
    std::size_t best = entries_.size();
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      Entry const& e = entries_[i];
      if (!wants[i] || e.ranked || e.optimistic) continue;
      if (best == entries_.size()) {
        best = i;
        continue;
      }
      Entry const& b = entries_[best];
      if (e.optimistic_since != b.optimistic_since) {
        if (e.optimistic_since < b.optimistic_since) best = i;
      } else if (ffi::as_u128(peers[i]->bid()) > ffi::as_u128(peers[best]->bid())) {
        best = i;
      }
    }
    if (best == entries_.size()) break;
    entries_[best].optimistic = true;
    entries_[best].optimistic_since = now;
    ++optimistic;
  }

  policy_ = policy;
  ranking_ = true;
  // Choke first: the slots they free are the ones the winners take.
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (!entries_[i].ranked && !entries_[i].optimistic && !peers[i]->choked()) peers[i]->choke();
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if ((entries_[i].ranked || entries_[i].optimistic) && peers[i]->choked()) peers[i]->unchoke();
}

}  // namespace piecepay::torrent
