// piecepay for libtorrent 2.0: a BEP 10 extension ("piecepay") that makes a session a payee (sells pieces,
// serves a peer only within its credit window, chokes the rest), a payer (pays a peer per piece, after
// the piece passed its hash check), or both.
//
// Use: build one `Extension` per session and add `extension.plugin()` to the session
// (`session.add_extension`): every torrent of the session takes part, those already in it and those added
// later, magnet links included. A selling session's upload slots go to the highest bidders (see
// README.md, "Upload slots"). All plugin callbacks run on libtorrent's network thread; `counters()`,
// `latest_receipts()` and `channels()` may be read from any thread.
#pragma once

#include <libtorrent/extensions.hpp>
#include <libtorrent/torrent_info.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace piecepay::torrent {

/// Name of the extension in the BEP 10 handshake's `m` dictionary.
inline constexpr const char* kExtensionName = "piecepay";
/// The id this side asks peers to use for our messages (BEP 10: chosen by the receiver, 1..255).
inline constexpr int kLocalMessageId = 42;

/// A channel opened on chain before the transfer, by the caller, who checked it there. Named from this
/// side: `peer` is the payee in `PayerOptions::open_channels`, the payer in
/// `PayeeOptions::verified_channels`.
struct KnownChannel {
  /// 0x-prefixed 20-byte hex address of the other party.
  std::string peer;
  /// The channel's salt (the channel id is keccak256(payer, payee, salt)).
  std::uint32_t salt = 0;
  /// The deposit the chain shows, in token base units (decimal).
  std::string deposit;
};

/// Selling pieces. The key is a hex secp256k1 secret.
struct PayeeOptions {
  /// 0x-prefixed 32-byte hex secret of the payee's key.
  std::string key_hex;
  /// Price of one piece, in token base units (decimal).
  std::string price = "1000";
  /// Pieces served ahead of payment to a peer with an open channel. Must cover the request pipeline
  /// (bandwidth × round trip) or paying peers stall: 64 pieces of 256 KiB is 16 MiB.
  std::uint32_t credit_pieces = 64;
  /// Channels the caller checked on chain: a peer announcing one of these (its payer and salt) is served
  /// on it as funded with the deposit given here, whatever deposit it claims. A channel not listed gets
  /// the free share only, unless `trust_claimed_deposit`.
  std::vector<KnownChannel> verified_channels;
  /// Accept the deposit a payer claims for a channel not in `verified_channels`, without asking the
  /// chain. Tests and the chainless demo and bench only: nothing backs such a channel.
  bool trust_claimed_deposit = false;
  /// Percentage of the upload slots (0–100, rounded up) kept for peers that do not pay while there are
  /// such peers; the other slots go to the highest bidders.
  std::uint8_t reserved_percent = 20;
};

/// Buying pieces.
struct PayerOptions {
  /// 0x-prefixed 32-byte hex secret of the payer's key.
  std::string key_hex;
  /// Most this payer pays for one piece (decimal base units); terms above it are declined. The first bid
  /// meets the payee's asked price; a payee that keeps this payer choked for lack of a slot (not for
  /// lack of payment) is bid more, by `bid_step` at most every 10 s, up to this.
  std::string max_price = "1000000";
  /// How much one raise adds (decimal base units); empty: straight to `max_price`.
  std::string bid_step;
  /// Deposit each channel is funded with (decimal base units) when this payer opens it itself.
  std::string deposit = "1000000000000";
  /// Channels already open on chain (payee, salt, deposit): adopted as funded, never opened again. When
  /// not empty, only these payees are paid; others are not bid to. When empty, the payer signs an open
  /// per payee (salts from the clock) and, having no chain, adopts it as funded at once (chainless demo).
  std::vector<KnownChannel> open_channels;
  /// Tests only: stop paying after this many pieces per peer, like a payer that defaults (0: never stop).
  std::uint64_t default_after_pieces = 0;
};

/// The chain and contracts the channels live on (fixed test values for the demo: no chain is asked).
struct ChainOptions {
  std::uint64_t chain_id = 31337;
  /// 0x-prefixed 20-byte hex address of the escrow.
  std::string escrow;
  /// 0x-prefixed 20-byte hex address of the token.
  std::string token;
};

/// What one session does.
struct Options {
  ChainOptions chain;
  /// Sell pieces (seeders). Without it, the session serves everyone for free, like stock libtorrent.
  std::optional<PayeeOptions> payee;
  /// Buy pieces from peers that sell them.
  std::optional<PayerOptions> payer;
  /// Pieces a payee serves to a peer that has no open channel (no extension, or not paying) before
  /// choking it. 0: none.
  std::uint32_t free_pieces = 0;
};

/// Running totals for a session (monotonic, read from any thread).
struct Counters {
  std::atomic<std::uint64_t> peers{0};
  std::atomic<std::uint64_t> peers_with_extension{0};
  std::atomic<std::uint64_t> pieces_served_paid{0};
  std::atomic<std::uint64_t> pieces_served_free{0};
  std::atomic<std::uint64_t> requests_swallowed{0};
  std::atomic<std::uint64_t> chokes{0};
  std::atomic<std::uint64_t> receipts_accepted{0};
  std::atomic<std::uint64_t> receipts_rejected{0};
  std::atomic<std::uint64_t> pieces_paid{0};
  /// Payer, agent-driven sessions: `receipt` messages sent (one may pay several pieces,
  /// docs/wire-protocol.md §5.6).
  std::atomic<std::uint64_t> receipts_sent{0};
  /// Payer: bids raised because a payee kept this session choked for lack of an upload slot.
  std::atomic<std::uint64_t> bids_raised{0};
  /// Payer: pieces that passed their hash check, supplied mostly by a peer this session has no funded
  /// channel with (a peer that does not sell, or the free share before the channel was funded).
  std::atomic<std::uint64_t> pieces_unpaid{0};
  std::atomic<std::uint64_t> protocol_errors{0};
};

/// The highest receipt a payee holds for one channel: what a relayer settles.
struct ReceiptRecord {
  std::string channel_id;  ///< 0x hex, 32 bytes
  std::string payer;       ///< 0x hex address
  std::string payee;       ///< 0x hex address
  std::uint32_t salt = 0;
  std::string cumulative;  ///< decimal base units
  std::string signature;   ///< 0x hex, 64-byte EIP-2098 compact signature
  std::uint64_t chain_id = 0;
  std::string escrow;  ///< 0x hex address

  /// One line of JSON with the fields above.
  std::string to_json() const;
};

/// One channel as one side of it saw the transfer (`Extension::channels`).
struct ChannelStats {
  std::string channel_id;  ///< 0x hex, 32 bytes
  std::string payer;       ///< 0x hex address
  std::string payee;       ///< 0x hex address
  std::uint32_t salt = 0;
  /// Payee: whole pieces served on the channel. Payer: pieces it owed the payee for (passed their hash
  /// check, supplied mostly by that payee).
  std::uint64_t pieces = 0;
  /// Payee: receipts accepted. Payer: receipts signed.
  std::uint64_t receipts = 0;
  /// Payee: the highest cumulative accepted. Payer: the highest signed. Decimal base units.
  std::string cumulative = "0";
};

/// The 0x-prefixed address of a hex secp256k1 secret key (through the C ABI). Throws
/// std::invalid_argument on a bad key.
std::string address_of(const std::string& key_hex);

class SessionState;

/// One session's piecepay extension.
class Extension {
 public:
  /// Fails (std::invalid_argument, with the C ABI's error code in the message) on bad keys or terms.
  explicit Extension(Options options);
  ~Extension();
  Extension(const Extension&) = delete;
  Extension& operator=(const Extension&) = delete;

  /// The session plugin, for `session.add_extension` (once, on one session). It joins every torrent of
  /// the session; when selling, it takes over the session's choker on its first tick: libtorrent's
  /// `unchoke_slots_limit` still says how many upload slots there are, piecepay says who holds them.
  std::shared_ptr<libtorrent::plugin> plugin();

  const Counters& counters() const;
  /// The highest receipt of every channel this session was paid on.
  std::vector<ReceiptRecord> latest_receipts() const;
  /// Every channel this session paid or was paid on, as this side counted it (payee channels first).
  std::vector<ChannelStats> channels() const;
  const Options& options() const;

 private:
  std::shared_ptr<SessionState> state_;
  std::shared_ptr<libtorrent::plugin> plugin_;
};

}  // namespace piecepay::torrent
