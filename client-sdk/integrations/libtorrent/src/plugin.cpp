// libtorrent glue: turns peer-connection events into PayeePeer/PayerPeer calls and their answers into
// choke / swallow / reject / extension messages; a session plugin joins every torrent and, when selling,
// gives the upload slots out by bid (choker.hpp).
#include "piecepay_torrent/plugin.hpp"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "choker.hpp"
#include "connection.hpp"
#include "frame.hpp"
#include "payments.hpp"
#include "session_plugin.hpp"
#include "tally.hpp"

namespace lt = libtorrent;

namespace piecepay::torrent {

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {

Options checked(Options options) {
  if (options.payee && options.payee->reserved_percent > 100)
    throw std::invalid_argument("invalid_policy: reserved_percent above 100");
  return options;
}

}  // namespace

class SessionState {
 public:
  explicit SessionState(Options options) : options_(checked(std::move(options))), payments_(make_payments(options_)) {}
  bool sells() const { return options_.payee.has_value(); }

  Options options_;
  Counters counters_;
  std::unique_ptr<Payments> payments_;
  Choker choker_;  ///< network thread only; used when selling
};

namespace {

/// What the connections of one torrent share (all on libtorrent's network thread): its piece geometry,
/// once the metadata is known (a magnet link learns it from peers), and who supplied which piece, so
/// that each piece is paid once, to one peer. A ledger entry keeps a connection's payer side alive until
/// its pieces are decided, so a receipt owed still leaves after the connection closed.
struct TorrentShared {
  std::optional<PieceGeometry> geometry;
  std::optional<PieceLedger<std::shared_ptr<PayerPeer>>> ledger;

  void set_geometry(PieceGeometry g) {
    if (geometry) return;
    geometry = g;
    ledger.emplace(g);
  }
};

class PeerPlugin final : public lt::peer_plugin, public SlotPeer {
 public:
  PeerPlugin(lt::peer_connection_handle pc, std::shared_ptr<SessionState> state, std::shared_ptr<TorrentShared> torrent)
      : pc_(std::move(pc)), state_(std::move(state)), torrent_(std::move(torrent)) {
    Counters& c = state_->counters_;
    c.peers.fetch_add(1, std::memory_order_relaxed);
    payee_ = state_->payments_->payee_peer(c);
    payer_ = state_->payments_->payer_peer(c);
  }

  lt::string_view type() const override { return kExtensionName; }

  void add_handshake(lt::entry& handshake) override { torrent::add_handshake(handshake); }

  bool on_handshake(lt::span<char const> reserved) override {
    gate_.on_handshake(reserved);
    return true;
  }

  // Always keep the plugin, extension or not: a peer without it is still policed by the payee.
  bool on_extension_handshake(lt::bdecode_node const& handshake) override {
    std::uint8_t const id = peer_message_id(handshake);
    if (id == 0) return true;
    if (peer_message_id_ == 0) state_->counters_.peers_with_extension.fetch_add(1, std::memory_order_relaxed);
    peer_message_id_ = id;
    if (payee_) payee_->start(unix_now());
    flush();
    return true;
  }

  bool on_extended(int length, int msg, lt::span<char const> body) override {
    if (msg != kLocalMessageId) return false;
    // No size limit of our own: the C ABI refuses a payload over PIECEPAY_MAX_MESSAGE_LEN unread and
    // answers `too_large`, as the protocol asks, and libtorrent bounds what it buffers for one message.
    if (body.size() < length) return true;  // a fragment; libtorrent calls again with more
    std::string_view payload(body.data(), static_cast<std::size_t>(body.size()));
    std::uint64_t const now = unix_now();
    if (payee_ && payer_) {
      if (for_payee(payload))
        payee_->on_message(payload, now);
      else
        payer_->on_message(payload, now);
    } else if (payee_) {
      payee_->on_message(payload, now);
    } else if (payer_) {
      payer_->on_message(payload, now);
    }
    flush();
    // A funded channel or a receipt may have made the peer servable again.
    if (payee_ && pc_.is_choked() && pc_.is_peer_interested() && may_serve()) unchoke();
    return true;
  }

  // A redundant connection is held while a receipt may still be on its way either way (connection.hpp).
  bool can_disconnect(lt::error_code const& ec) override {
    return hold_.can_disconnect(ec, [this](auto now) { return in_flight(now); });
  }

  // --- selling ---------------------------------------------------------------------------------------

  // Accepted only within the peer's allowance (connection.hpp, RequestGate): libtorrent reads accepted
  // requests into its send buffer ahead of sending them, and all of that goes out even past a choke.
  bool on_request(lt::peer_request const& r) override {
    if (!payee_) return false;
    std::uint64_t const allowance = this->allowance();
    return gate_.on_request(pc_, *this, r, allowance > 0 && slot(), allowance, state_->counters_);
  }

  bool on_have(lt::piece_index_t piece) override {
    if (payee_) gate_.on_have(piece);
    return false;
  }

  // Called as the last step of a disk read completion, so choking here (which rejects the queued
  // requests) cannot disturb an iteration inside libtorrent.
  void sent_piece(lt::peer_request const& r) override {
    if (!payee_) return;
    flush();  // acknowledgements of receipts the worker verified meanwhile
    if (!served_) {
      if (!torrent_->geometry) return;
      served_.emplace(*torrent_->geometry);
    }
    if (!served_->add(static_cast<int>(r.piece), r.length)) return;
    bool const unanswered = gate_.on_sent(static_cast<int>(r.piece));
    if (payee_->paying()) {
      state_->counters_.pieces_served_paid.fetch_add(1, std::memory_order_relaxed);
      payee_->on_piece_served(unix_now());
      flush();
    } else {
      state_->counters_.pieces_served_free.fetch_add(1, std::memory_order_relaxed);
      ++free_served_;
    }
    // Unchoked again from tick when it may be served: it then asks again for what it was not answered.
    if (!may_serve() || unanswered) choke();
  }

  // Once a second: the choker may have unchoked a peer we refuse to serve (or a payment may have made
  // one servable again without a message, e.g. a top-up seen elsewhere); a payer kept choked bids more.
  void tick() override {
    std::uint64_t const now = unix_now();
    if (payee_) payee_->on_tick(now);
    if (payer_ && pc_.has_peer_choked() && pc_.is_interesting()) payer_->on_choked(now);
    flush();
    if (hold_.release(pc_, [this](auto now) { return in_flight(now); })) return;
    if (!payee_) return;
    if (!pc_.is_choked() && !may_serve()) {
      choke();
    } else if (pc_.is_choked() && pc_.is_peer_interested() && may_serve()) {
      unchoke();
    }
  }

  // --- upload slots (SlotPeer, for the session's choker) ------------------------------------------------

  bool wants_slot() const override { return pc_.is_peer_interested() && servable(); }
  PiecepayAmount bid() const override { return payee_->paying() ? payee_->price() : PiecepayAmount{}; }
  std::uint64_t take_received() override { return std::exchange(received_, 0); }
  bool choked() const override { return pc_.is_choked(); }

  void choke() override {
    if (pc_.is_choked()) return;
    state_->counters_.chokes.fetch_add(1, std::memory_order_relaxed);
    pc_.choke_this_peer();
  }

  void unchoke() override { pc_.maybe_unchoke_this_peer(); }

  // --- buying ----------------------------------------------------------------------------------------

  // The piece is paid when it passes (TorrentPlugin::on_piece_pass), to whoever supplied most of it.
  bool on_piece(lt::peer_request const& r, lt::span<char const>) override {
    received_ += static_cast<std::uint64_t>(r.length);
    if (!payer_ || !torrent_->ledger) return false;
    torrent_->ledger->add(payer_, static_cast<int>(r.piece), r.length);
    flush();  // receipts the worker signed meanwhile
    return false;
  }

  bool on_choke() override {
    if (payer_) {
      payer_->on_choked(unix_now());
      flush();
    }
    return false;
  }

  bool on_unchoke() override {
    if (payer_) payer_->on_unchoked();
    return false;
  }

 private:
  // Whether a payment is still under way on this connection: a receipt signed and not acknowledged, a
  // payee owed for pieces it counted, or — for a short grace — a payee that sent part of a piece, which
  // the payer pays for when that payee supplied most of it.
  bool in_flight(std::chrono::steady_clock::time_point now) const {
    if (payer_ && payer_->unacknowledged()) return true;
    if (!payee_) return false;
    if (payee_->owed()) return true;
    return served_ && served_->partial() && hold_.within_partial_grace(now);
  }

  /// Whole pieces the peer may have now, slot or not: what its channel covers, or the free share left.
  std::uint64_t allowance() const {
    if (payee_->paying()) return payee_->allowance();
    std::uint32_t const free = state_->options_.free_pieces;
    return free > free_served_ ? free - free_served_ : 0;
  }

  /// Whether the peer's payments (or the free share) allow serving it, slot or not.
  bool servable() const { return allowance() > 0; }

  /// Whether to serve the peer now: servable, and holding an upload slot (or taking a free one).
  bool may_serve() { return servable() && slot(); }

  /// Whether the peer holds an upload slot, or takes a free one.
  bool slot() {
    Choker& choker = state_->choker_;
    return choker.holds(*this) || choker.offer(*this);
  }

  void flush() {
    std::vector<std::string> out;
    if (payee_) out = payee_->take_outgoing();
    if (payer_) {
      for (std::string& m : payer_->take_outgoing()) out.push_back(std::move(m));
    }
    if (out.empty() || peer_message_id_ == 0) return;
    for (std::string const& payload : out) {
      std::string const msg = frame::extended(peer_message_id_, payload);
      pc_.send_buffer(msg.data(), static_cast<int>(msg.size()));
    }
  }

  lt::peer_connection_handle pc_;
  std::shared_ptr<SessionState> state_;
  std::shared_ptr<TorrentShared> torrent_;
  std::optional<PieceTally> served_;  ///< from the first piece served (the geometry is known by then)
  std::unique_ptr<PayeePeer> payee_;
  std::shared_ptr<PayerPeer> payer_;
  std::uint8_t peer_message_id_ = 0;
  RequestGate gate_;
  RedundantHold hold_;  ///< while libtorrent wants this connection closed as redundant
  std::uint32_t free_served_ = 0;
  std::uint64_t received_ = 0;  ///< payload bytes from the peer since the choker last asked
};

class TorrentPlugin final : public lt::torrent_plugin {
 public:
  TorrentPlugin(std::shared_ptr<SessionState> state, lt::torrent_handle handle)
      : state_(std::move(state)), handle_(std::move(handle)), shared_(std::make_shared<TorrentShared>()) {}

  std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override {
    // Web seeds speak HTTP: nothing to sell or pay there.
    if (pc.type() != lt::connection_type::bittorrent) return nullptr;
    auto peer = std::make_shared<PeerPlugin>(pc, state_, shared_);
    if (state_->sells()) state_->choker_.add(peer);
    return peer;
  }

  // The metadata is known and the files checked: before this, no piece moves. (A torrent added from a
  // magnet link gets here once its metadata arrived from peers, BEP 9.)
  void on_files_checked() override {
    std::shared_ptr<const lt::torrent_info> const ti = handle_.torrent_file();
    if (ti && ti->is_valid()) shared_->set_geometry(geometry_of(*ti));
  }

  // Once per piece: pay its main supplier. Signing happens on the worker; the receipt leaves with that
  // payee's next flush (its next block, or tick).
  void on_piece_pass(lt::piece_index_t piece) override {
    if (!shared_->ledger) return;
    std::shared_ptr<PayerPeer> const supplier = shared_->ledger->on_pass(static_cast<int>(piece));
    if (supplier) supplier->on_piece_passed(unix_now());
  }

  void on_piece_failed(lt::piece_index_t piece) override {
    if (shared_->ledger) shared_->ledger->on_fail(static_cast<int>(piece));
  }

 private:
  std::shared_ptr<SessionState> state_;
  lt::torrent_handle handle_;
  std::shared_ptr<TorrentShared> shared_;
};

}  // namespace

Extension::Extension(Options options) : state_(std::make_shared<SessionState>(std::move(options))) {
  auto const state = state_;
  plugin_ = std::make_shared<SessionPlugin>(
      [state](lt::torrent_handle const& h) { return std::make_shared<TorrentPlugin>(state, h); },
      [state]() { return state->sells() ? std::shared_ptr<Choker>(state, &state->choker_) : nullptr; },
      state->sells() ? state->options_.payee->reserved_percent : 0);
}
Extension::~Extension() = default;

std::shared_ptr<lt::plugin> Extension::plugin() { return plugin_; }

const Counters& Extension::counters() const { return state_->counters_; }
std::vector<ReceiptRecord> Extension::latest_receipts() const { return state_->payments_->latest_receipts(); }
std::vector<ChannelStats> Extension::channels() const { return state_->payments_->channels(); }
const Options& Extension::options() const { return state_->options_; }

std::string ReceiptRecord::to_json() const {
  // Every field is hex, decimal or an integer: nothing needs escaping.
  std::ostringstream o;
  o << R"({"chain_id":)" << chain_id << R"(,"escrow":")" << escrow << R"(","channel_id":")" << channel_id
    << R"(","payer":")" << payer << R"(","payee":")" << payee << R"(","salt":)" << salt << R"(,"cumulative":")"
    << cumulative << R"(","signature":")" << signature << R"("})";
  return o.str();
}

}  // namespace piecepay::torrent
