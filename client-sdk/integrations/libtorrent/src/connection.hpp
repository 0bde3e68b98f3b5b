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

/// A request swallowed: a BEP 6 peer gets a reject so its picker frees the block (for any other peer, the
/// choke that follows cancels all its requests by the base protocol).
inline void reject(libtorrent::peer_connection_handle& pc, libtorrent::peer_request const& r) {
  auto const msg = frame::reject(static_cast<std::uint32_t>(static_cast<int>(r.piece)),
                                 static_cast<std::uint32_t>(r.start), static_cast<std::uint32_t>(r.length));
  pc.send_buffer(msg.data(), static_cast<int>(msg.size()));
}

}  // namespace piecepay::torrent
