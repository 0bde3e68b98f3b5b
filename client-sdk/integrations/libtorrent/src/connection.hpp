// What both peer plugins (caller-configured payments in plugin.cpp, the agent's in agent_plugin.cpp) decide
// the same way about a libtorrent connection.
#pragma once

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>
#include <libtorrent/torrent_info.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "choker.hpp"
#include "frame.hpp"
#include "payments.hpp"
#include "tally.hpp"

namespace piecepay::torrent {

// How long a payee holds a redundant connection for a receipt that may pay for a piece it sent only part
// of: receipts leave within a tick (1 s) of the hash check that precedes the peer's last `have`.
constexpr std::chrono::seconds kPartialGrace{3};

inline PieceGeometry geometry_of(libtorrent::torrent_info const& ti) {
  return PieceGeometry{ti.total_size(), ti.piece_length(), ti.num_pieces()};
}

// libtorrent closes connections between two seeds at once, dropping whatever is still buffered. Such a
// connection is held while a payment may still be on its way, so the last pieces are paid too, and closed
// from tick() once nothing is (the close libtorrent wanted, only later). Other reasons (timeouts, errors)
// are not held up.
inline bool redundant(libtorrent::error_code const& ec) {
  return ec == libtorrent::errors::torrent_finished || ec == libtorrent::errors::upload_upload_connection ||
         ec == libtorrent::errors::uninteresting_upload_peer;
}

/// A connection libtorrent wants closed as redundant, held open (both plugins): `in_flight(now)` says
/// whether a payment is still under way on it, either way.
class RedundantHold {
 public:
  using Clock = std::chrono::steady_clock;

  /// libtorrent's can_disconnect: whether to let the connection close now for `ec`.
  template <class InFlight>
  bool can_disconnect(libtorrent::error_code const& ec, InFlight in_flight) {
    if (!redundant(ec)) return true;
    auto const now = Clock::now();
    if (!since_) since_ = now;
    if (!in_flight(now)) return true;
    reason_ = ec;
    return false;
  }

  /// From tick(): closes a held connection, for the reason libtorrent gave, once nothing is in flight.
  /// Returns whether it closed it.
  template <class InFlight>
  bool release(libtorrent::peer_connection_handle& pc, InFlight in_flight) {
    if (!reason_ || in_flight(Clock::now())) return false;
    libtorrent::error_code const ec = *std::exchange(reason_, std::nullopt);
    pc.disconnect(ec, libtorrent::operation_t::bittorrent);
    return true;
  }

  /// Whether a piece the peer got only part of may still be paid for: libtorrent first wanted the
  /// connection closed less than kPartialGrace before `now`.
  bool within_partial_grace(Clock::time_point now) const { return since_ && now - *since_ < kPartialGrace; }

 private:
  std::optional<Clock::time_point> since_;        ///< when libtorrent first wanted it closed as redundant
  std::optional<libtorrent::error_code> reason_;  ///< why, while it is held
};

/// Our half of the extended handshake: the id peers send our messages with, and the version we speak.
inline void add_handshake(libtorrent::entry& handshake) {
  handshake["m"][kExtensionName] = kLocalMessageId;
  handshake[version_key()] = protocol_version();
}

/// The id a peer's extended handshake asks for our messages to it; 0 when it does not speak piecepay (no
/// valid id, or no version in common).
inline std::uint8_t peer_message_id(libtorrent::bdecode_node const& handshake) {
  libtorrent::bdecode_node const m = handshake.dict_find_dict("m");
  if (!m) return 0;
  std::int64_t const id = m.dict_find_int_value(kExtensionName, 0);
  if (id < 1 || id > 255) return 0;
  if (negotiate_version(handshake.dict_find_int_value(version_key(), 0)) == 0) return 0;
  return static_cast<std::uint8_t>(id);
}

/// How a seller answers one peer's requests (both plugins): a request is accepted only while the peer may
/// be served and within its allowance of open pieces (tally.hpp, Backlog), so nothing goes out past what
/// its channel covers or its free share, whatever libtorrent already read into its send buffer. The
/// caller reads the allowance once per request, from one snapshot of the payee's state, so a request is
/// never refused while that state says serve (nor accepted while it says choke).
class RequestGate {
 public:
  /// The peer's handshake: whether it speaks BEP 6 (the fast extension).
  void on_handshake(libtorrent::span<char const> reserved) {
    fast_ = frame::supports_fast({reserved.data(), static_cast<std::size_t>(reserved.size())});
  }

  /// libtorrent's on_request: false (libtorrent queues it) when the peer may be served now — `serve`: it
  /// has an allowance of `allowance` whole pieces above 0 and an upload slot — and the request's piece is
  /// open or fits the allowance. Otherwise it is swallowed (true): a BEP 6 peer gets a reject. Any other
  /// peer is choked, which frees all its requests by the base protocol — at once when it may not be
  /// served, else only once the piece on its way went out whole (`on_sent`): a choke now would also drop
  /// the requests accepted for that piece and not yet read, and the peer would ask for them again and
  /// again.
  bool on_request(libtorrent::peer_connection_handle& pc, SlotPeer& peer, libtorrent::peer_request const& r, bool serve,
                  std::uint64_t allowance, Counters& counters) {
    if (serve && backlog_.admit(static_cast<int>(r.piece), allowance)) return false;
    counters.requests_swallowed.fetch_add(1, std::memory_order_relaxed);
    if (fast_) {
      auto const msg = frame::reject(static_cast<std::uint32_t>(static_cast<int>(r.piece)),
                                     static_cast<std::uint32_t>(r.start), static_cast<std::uint32_t>(r.length));
      pc.send_buffer(msg.data(), static_cast<int>(msg.size()));
    } else if (serve) {
      unanswered_ = true;
    }
    if (!serve) peer.choke();
    return true;
  }

  /// The peer has `piece` (got it elsewhere): it asks for no more of it here.
  void on_have(libtorrent::piece_index_t piece) { backlog_.close(static_cast<int>(piece)); }

  /// `piece` went out whole (and is charged). Returns whether to choke the peer now although it may be
  /// served: a request of a peer without BEP 6 was swallowed, and it asks again once unchoked.
  bool on_sent(int piece) {
    backlog_.close(piece);
    return std::exchange(unanswered_, false);
  }

 private:
  Backlog backlog_;
  bool fast_ = false;
  bool unanswered_ = false;  ///< a request of a peer without BEP 6 was swallowed while it may be served
};

}  // namespace piecepay::torrent
