// The plugin's view of one peer's payment conversation. The implementation (payments_ffi.cpp) drives the
// SDK's payer and payee state machines and the wire codec through the C ABI; the plugin only moves opaque
// extension payloads and asks yes/no questions, so it never parses the protocol itself.
#pragma once

#include <piecepay.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "piecepay_torrent/plugin.hpp"

namespace piecepay::torrent {

/// Selling to one peer.
class PayeePeer {
 public:
  virtual ~PayeePeer() = default;
  /// Payloads to send first (hello/terms), once the peer advertised the extension.
  virtual void start(std::uint64_t now) = 0;
  /// One complete extension payload from the peer.
  virtual void on_message(std::string_view payload, std::uint64_t now) = 0;
  /// Whether a channel is open: the peer is charged by it (otherwise it is on the free share).
  virtual bool paying() const = 0;
  /// The price per piece agreed with the peer (its accepted bid); zero before a bid was accepted.
  virtual PiecepayAmount price() const = 0;
  /// Whole pieces the peer may be served now on its channel before it must pay more (its credit window
  /// and deposit left); 0 when it may not be served. One value, so that whether to serve and how much
  /// are never read from two states.
  virtual std::uint64_t allowance() const = 0;
  /// Whether the peer owes for pieces served (a receipt may still be on its way).
  virtual bool owed() const = 0;
  /// A whole piece went to the peer (its allowance is then one less, or more when a payment came).
  virtual void on_piece_served(std::uint64_t now) = 0;
  /// Once a second: finish what waits on time (a receipt held unverified is verified within a tick).
  virtual void on_tick(std::uint64_t now) = 0;
  /// Extension payloads to send, in order; drains the queue.
  virtual std::vector<std::string> take_outgoing() = 0;
};

/// Buying from one peer. The channel behind it belongs to the session, one per payee, so a payee met
/// again (a reconnection) is paid on the same channel, its cumulative going on from where it stood.
class PayerPeer {
 public:
  virtual ~PayerPeer() = default;
  /// One complete extension payload from the peer.
  virtual void on_message(std::string_view payload, std::uint64_t now) = 0;
  /// A piece the peer supplied passed its hash check: pay it. May be called after the connection closed;
  /// the receipt then leaves with the next connection to the same payee.
  virtual void on_piece_passed(std::uint64_t now) = 0;
  /// Whether a receipt sent is not yet acknowledged.
  virtual bool unacknowledged() const = 0;
  /// The peer chokes us (or still does, asked once a tick): when that is for lack of an upload slot — our
  /// channel to it is announced and it asked for no payment — bid more, within the payer's maximum price,
  /// at most once per raise interval.
  virtual void on_choked(std::uint64_t now) = 0;
  /// The peer unchoked us.
  virtual void on_unchoked() = 0;
  /// Extension payloads to send, in order; drains the queue.
  virtual std::vector<std::string> take_outgoing() = 0;
};

/// Per-session payment context: keys, terms, receipts store. Thread-safe for receipts/counters.
class Payments {
 public:
  virtual ~Payments() = default;
  /// A payee conversation with a new peer, or null when this session does not sell.
  virtual std::unique_ptr<PayeePeer> payee_peer(Counters& counters) = 0;
  /// A payer conversation with a new peer, or null when this session does not buy.
  virtual std::unique_ptr<PayerPeer> payer_peer(Counters& counters) = 0;
  /// The highest receipt of every channel paid to this session.
  virtual std::vector<ReceiptRecord> latest_receipts() const = 0;
  /// Every channel of this session, as it counted it (payee channels first).
  virtual std::vector<ChannelStats> channels() const = 0;
};

/// The C ABI-backed payments for `options` (throws std::invalid_argument on bad keys or terms).
std::unique_ptr<Payments> make_payments(const Options& options);

/// Whether a payload is addressed to the payee role (bid, channel, receipt) rather than the payer role;
/// only asked when a session plays both.
bool for_payee(std::string_view payload);

/// The extended-handshake key carrying the protocol version, and the highest version spoken.
const char* version_key();
std::int64_t protocol_version();
/// The version to speak with a peer that announced `theirs` (0: none in common, treat as no extension).
std::uint64_t negotiate_version(std::int64_t theirs);

/// Seconds since the Unix epoch (the state machines take `now` as an argument).
std::uint64_t unix_now();

}  // namespace piecepay::torrent
