// What both peer plugins (caller-configured payments in plugin.cpp, the agent's in agent_plugin.cpp) decide
// the same way about a libtorrent connection.
#pragma once

#include <libtorrent/error_code.hpp>
#include <libtorrent/torrent_info.hpp>

#include <chrono>

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

}  // namespace piecepay::torrent
