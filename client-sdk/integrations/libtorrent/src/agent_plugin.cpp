// The agent-driven plugin (attach.hpp): one PiecepayPeer link of the agent per connection. libtorrent
// events become piecepay_peer_* calls; the agent's answers — messages, and whether to serve — come back
// at once or, when they needed the chain, a relayer or a durable write, later through its wake callback,
// which this posts to libtorrent's network thread.
#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "choker.hpp"
#include "connection.hpp"
#include "ffi_common.hpp"
#include "frame.hpp"
#include "lent_settings.hpp"
#include "payments.hpp"
#include "peek.hpp"
#include "piecepay_torrent/attach.hpp"
#include "session_plugin.hpp"
#include "tally.hpp"

namespace lt = libtorrent;

namespace piecepay::torrent {

using ffi::Bytes;
using ffi::parse_amount;
using ffi::parse_hex;
using ffi::to_hex;

namespace {

[[noreturn]] void fail() {
  const char* code = piecepay_last_error_code();
  const char* msg = piecepay_last_error_message();
  throw AttachError(code ? code : "unknown", msg ? msg : "");
}

void check(PiecepayStatus status) {
  if (status != PIECEPAY_STATUS_OK) fail();
}

/// A peer link of the agent, freed when the connection and the piece ledger are both done with it.
class Link {
 public:
  Link(std::shared_ptr<AgentCore> core, PiecepayPeer* peer) : core_(std::move(core)), peer_(peer) {}
  ~Link() { piecepay_peer_free(peer_); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  PiecepayPeer* get() const { return peer_; }

 private:
  std::shared_ptr<AgentCore> core_;  ///< the agent outlives its links
  PiecepayPeer* peer_;
};

class AgentPeerPlugin;

/// What the connections of one torrent share (network thread only, except `woken`): the piece geometry,
/// the payer's ledger (who supplied which piece), and the peers by link id for the wake callback.
struct AgentTorrent {
  std::optional<PieceGeometry> geometry;
  std::optional<PieceLedger<std::shared_ptr<Link>>> ledger;
  std::unordered_map<std::uint64_t, std::weak_ptr<AgentPeerPlugin>> peers;

  std::mutex woken_mutex;
  std::vector<std::uint64_t> woken;  ///< link ids the agent woke, until the network thread runs them
};

}  // namespace

/// The agent and everything its callbacks reach. Shared by the attachment and every link; the agent is
/// freed (its threads joined) with the last of them.
class AgentCore {
 public:
  AgentCore(PiecepayAgent* agent, lt::session_handle session) : hashing_threads(std::move(session)), agent_(agent) {}
  ~AgentCore() {
    piecepay_agent_free(agent_);
    if (freed_) freed_->set_value();
  }

  PiecepayAgent* agent() const { return agent_; }
  bool stopped() const { return stopped_.load(); }

  /// The torrent a link belongs to, for wake (any thread).
  void route(std::uint64_t id, lt::torrent_handle handle, std::weak_ptr<AgentTorrent> torrent) {
    std::lock_guard<std::mutex> lock(routes_mutex_);
    routes_[id] = Route{std::move(handle), std::move(torrent)};
  }
  void unroute(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(routes_mutex_);
    routes_.erase(id);
  }

  /// From the agent's threads: has the network thread look at link `id` (its outbox, whether to serve).
  /// libtorrent runs a torrent_handle::add_extension factory on its network thread; this one only runs
  /// the woken links and adds nothing. One post per torrent while its wakes are pending.
  void wake(std::uint64_t id);

  std::shared_ptr<Counters> counters = std::make_shared<Counters>();  ///< the attachment's too
  std::shared_ptr<Choker> choker = std::make_shared<Choker>();        ///< network thread only
  std::atomic<bool> stopped_{false};
  /// Connections on which this agent owes a payment (pieces verified and unpaid, a receipt unacknowledged).
  std::atomic<int> payments_due{0};
  std::optional<std::promise<void>> freed_;  ///< set by stop(): kept when the agent is freed
  /// Raised once the plugin joined, given back by Attachment::stop (the caller's threads only).
  HashingThreads hashing_threads;

 private:
  struct Route {
    lt::torrent_handle handle;
    std::weak_ptr<AgentTorrent> torrent;
  };

  PiecepayAgent* agent_;
  std::mutex routes_mutex_;
  std::unordered_map<std::uint64_t, Route> routes_;
};

namespace {

class AgentPeerPlugin final : public lt::peer_plugin, public SlotPeer {
 public:
  AgentPeerPlugin(lt::peer_connection_handle pc, std::shared_ptr<Link> link, std::shared_ptr<AgentCore> core,
                  std::shared_ptr<AgentTorrent> torrent)
      : pc_(std::move(pc)), link_(std::move(link)), core_(std::move(core)), torrent_(std::move(torrent)) {
    core_->counters->peers.fetch_add(1, std::memory_order_relaxed);
  }

  ~AgentPeerPlugin() override { detach(); }  // the connection ended

  lt::string_view type() const override { return kExtensionName; }

  void add_handshake(lt::entry& handshake) override { torrent::add_handshake(handshake); }

  bool on_handshake(lt::span<char const> reserved) override {
    gate_.on_handshake(reserved);
    return true;
  }

  // Always keep the plugin, extension or not: a peer without it is still policed (its free share).
  bool on_extension_handshake(lt::bdecode_node const& handshake) override {
    if (!link_) return true;
    std::uint8_t const id = peer_message_id(handshake);
    if (id == 0) return true;
    if (peer_message_id_ == 0) core_->counters->peers_with_extension.fetch_add(1, std::memory_order_relaxed);
    peer_message_id_ = id;
    piecepay_peer_start(link_->get());
    on_wake();
    return true;
  }

  bool on_extended(int length, int msg, lt::span<char const> body) override {
    if (msg != kLocalMessageId || !link_) return false;
    if (body.size() < length) return true;  // a fragment; libtorrent calls again with more
    // Sizes are the C ABI's to refuse (`too_large`), as for the caller-configured plugin.
    piecepay_peer_on_message(link_->get(), reinterpret_cast<const std::uint8_t*>(body.data()),
                             static_cast<std::size_t>(body.size()));
    on_wake();
    return true;
  }

  // A redundant connection is held while a payment may still be on its way either way (connection.hpp).
  bool can_disconnect(lt::error_code const& ec) override {
    if (!link_) return true;
    return hold_.can_disconnect(ec, [this](auto now) { return in_flight(now); });
  }

  // --- selling ---------------------------------------------------------------------------------------

  // Accepted only within the peer's allowance (connection.hpp, RequestGate), read with whether to serve
  // in one snapshot of the agent's state.
  bool on_request(lt::peer_request const& r) override {
    if (!link_) return false;
    std::uint64_t const allowance = state().allowance;
    return gate_.on_request(pc_, *this, r, allowance > 0 && slot(), allowance, *core_->counters);
  }

  bool on_have(lt::piece_index_t piece) override {
    gate_.on_have(piece);
    return false;
  }

  void sent_piece(lt::peer_request const& r) override {
    if (!link_) return;
    if (!served_) {
      if (!torrent_->geometry) return;
      served_.emplace(*torrent_->geometry);
    }
    if (!served_->add(static_cast<int>(r.piece), r.length)) return;
    bool const unanswered = gate_.on_sent(static_cast<int>(r.piece));
    bool const paying = state().paying;
    (paying ? core_->counters->pieces_served_paid : core_->counters->pieces_served_free)
        .fetch_add(1, std::memory_order_relaxed);
    piecepay_peer_on_piece_served(link_->get());
    flush();
    // Unchoked again from on_wake when it may be served: it then asks again for what it was not answered.
    if (!may_serve() || unanswered) choke();
  }

  void tick() override {
    if (!link_) return;
    if (core_->stopped()) {
      detach();
      return;
    }
    if (pc_.has_peer_choked() && pc_.is_interesting()) piecepay_peer_on_choked(link_->get());
    on_wake();
    hold_.release(pc_, [this](auto now) { return in_flight(now); });
  }

  /// The agent woke this link (or a call into it returned): send what it queued, and follow its serve
  /// decision — a funded channel or a receipt may make the peer servable, a refusal may end it.
  void on_wake() {
    if (!link_) return;
    flush();
    set_due(state().payment_due);
    if (!pc_.is_choked() && !may_serve()) {
      choke();
    } else if (pc_.is_choked() && pc_.is_peer_interested() && may_serve()) {
      unchoke();
    }
  }

  // --- upload slots (SlotPeer, for the choker) -----------------------------------------------------------

  bool wants_slot() const override {
    return link_ && pc_.is_peer_interested() && piecepay_peer_may_serve(link_->get());
  }
  PiecepayAmount bid() const override {
    PiecepayPeerState const s = state();
    return s.paying ? s.bid : PiecepayAmount{};
  }
  std::uint64_t take_received() override { return std::exchange(received_, 0); }
  bool choked() const override { return pc_.is_choked(); }
  void choke() override {
    if (pc_.is_choked()) return;
    core_->counters->chokes.fetch_add(1, std::memory_order_relaxed);
    pc_.choke_this_peer();
  }
  void unchoke() override { pc_.maybe_unchoke_this_peer(); }

  // --- buying ----------------------------------------------------------------------------------------

  // The piece is paid when it passes (AgentTorrentPlugin::on_piece_pass), to whoever supplied most of it.
  bool on_piece(lt::peer_request const& r, lt::span<char const>) override {
    received_ += static_cast<std::uint64_t>(r.length);
    if (link_ && torrent_->ledger) torrent_->ledger->add(link_, static_cast<int>(r.piece), r.length);
    return false;
  }

  bool on_choke() override {
    if (link_) {
      piecepay_peer_on_choked(link_->get());
      flush();
    }
    return false;
  }

 private:
  PiecepayPeerState state() const {
    PiecepayPeerState s{};
    if (link_) piecepay_peer_state(link_->get(), &s);
    return s;
  }

  // Whether a payment is still under way on this connection (either way), or — for a short grace — the
  // peer got part of a piece it may pay for.
  bool in_flight(std::chrono::steady_clock::time_point now) const {
    PiecepayPeerState const s = state();
    if (s.owed || s.payment_due) return true;
    return served_ && served_->partial() && hold_.within_partial_grace(now);
  }

  /// Whether to serve the peer now: the agent says so, and it holds an upload slot (or takes a free one).
  bool may_serve() { return piecepay_peer_may_serve(link_->get()) && slot(); }

  /// Whether the peer holds an upload slot, or takes a free one.
  bool slot() { return core_->choker->holds(*this) || core_->choker->offer(*this); }

  void set_due(bool due) {
    if (due == due_) return;
    due_ = due;
    core_->payments_due.fetch_add(due ? 1 : -1);
  }

  void flush() {
    for (;;) {
      Bytes out;
      if (piecepay_peer_next_message(link_->get(), &out.raw) != PIECEPAY_STATUS_OK || out.raw.len == 0) return;
      if (peer_message_id_ == 0) continue;
      std::string const payload = out.str();
      if (peek::type_is(payload, "receipt")) core_->counters->receipts_sent.fetch_add(1, std::memory_order_relaxed);
      std::string const msg = frame::extended(peer_message_id_, payload);
      pc_.send_buffer(msg.data(), static_cast<int>(msg.size()));
    }
  }

  /// Lets go of the link (the connection ended, or payments stopped: the peer is then a plain peer).
  void detach() {
    if (!link_) return;
    std::uint64_t const id = piecepay_peer_id(link_->get());
    core_->unroute(id);
    torrent_->peers.erase(id);
    set_due(false);
    link_.reset();
  }

  lt::peer_connection_handle pc_;
  std::shared_ptr<Link> link_;  ///< null once detached
  std::shared_ptr<AgentCore> core_;
  std::shared_ptr<AgentTorrent> torrent_;
  std::optional<PieceTally> served_;
  RequestGate gate_;
  std::uint8_t peer_message_id_ = 0;
  RedundantHold hold_;
  std::uint64_t received_ = 0;
  bool due_ = false;  ///< counted in AgentCore::payments_due
};

/// Has link `id`'s connection look at the agent's state now (network thread): its outbox, whether to
/// serve, whether a payment is due.
void wake_now(AgentTorrent& torrent, std::uint64_t id) {
  auto const it = torrent.peers.find(id);
  if (it == torrent.peers.end()) return;
  if (std::shared_ptr<AgentPeerPlugin> const peer = it->second.lock()) peer->on_wake();
}

class AgentTorrentPlugin final : public lt::torrent_plugin {
 public:
  AgentTorrentPlugin(std::weak_ptr<AgentCore> core, lt::torrent_handle handle)
      : core_(std::move(core)), handle_(std::move(handle)), shared_(std::make_shared<AgentTorrent>()) {}

  std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override {
    // Web seeds speak HTTP: nothing to sell or pay there.
    if (pc.type() != lt::connection_type::bittorrent) return nullptr;
    std::shared_ptr<AgentCore> const core = core_.lock();
    if (!core || core->stopped()) return nullptr;
    lt::sha1_hash const ih = handle_.info_hashes().get_best();
    std::string const label = pc.remote().address().to_string() + ":" + std::to_string(pc.remote().port());
    PiecepayPeer* raw = nullptr;
    if (piecepay_peer_new(core->agent(), reinterpret_cast<const std::uint8_t*>(ih.data()), label.c_str(), &raw) !=
        PIECEPAY_STATUS_OK) {
      core->counters->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return nullptr;  // the agent shut down: a plain connection
    }
    auto link = std::make_shared<Link>(core, raw);
    std::uint64_t const id = piecepay_peer_id(raw);
    auto peer = std::make_shared<AgentPeerPlugin>(pc, link, core, shared_);
    shared_->peers[id] = peer;
    core->route(id, handle_, shared_);
    core->choker->add(peer);
    return peer;
  }

  // The metadata is known and the files checked (a magnet link gets here once its metadata arrived).
  void on_files_checked() override {
    std::shared_ptr<const lt::torrent_info> const ti = handle_.torrent_file();
    if (!ti || !ti->is_valid() || shared_->geometry) return;
    shared_->geometry = geometry_of(*ti);
    shared_->ledger.emplace(*shared_->geometry);
  }

  // Once per piece: its main supplier's link is told; the agent signs and sends the receipt.
  void on_piece_pass(lt::piece_index_t piece) override {
    if (!shared_->ledger) return;
    std::shared_ptr<Link> const supplier = shared_->ledger->on_pass(static_cast<int>(piece));
    std::shared_ptr<AgentCore> const core = core_.lock();
    if (!supplier || !core) return;
    PiecepayPeerState s{};
    piecepay_peer_state(supplier->get(), &s);
    (s.buying ? core->counters->pieces_paid : core->counters->pieces_unpaid).fetch_add(1, std::memory_order_relaxed);
    piecepay_peer_on_piece_verified(supplier->get());
    // The payment is due from now, not from the agent's wake: a caller that sees the torrent complete
    // (and so this pass) must also see payments_due(), or it may leave with the last piece unpaid.
    wake_now(*shared_, piecepay_peer_id(supplier->get()));
  }

  void on_piece_failed(lt::piece_index_t piece) override {
    if (shared_->ledger) shared_->ledger->on_fail(static_cast<int>(piece));
  }

  // Payments stopped: the ledger lets go of the links it kept for pieces not yet decided.
  void tick() override {
    std::shared_ptr<AgentCore> const core = core_.lock();
    if ((!core || core->stopped()) && shared_->ledger) shared_->ledger.reset();
  }

 private:
  std::weak_ptr<AgentCore> core_;
  lt::torrent_handle handle_;
  std::shared_ptr<AgentTorrent> shared_;
};

/// Runs the links the agent woke (on the network thread).
void run_woken(const std::shared_ptr<AgentTorrent>& torrent) {
  std::vector<std::uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(torrent->woken_mutex);
    ids.swap(torrent->woken);
  }
  for (std::uint64_t id : ids) wake_now(*torrent, id);
}

void on_agent_wake(void* context, std::uint64_t id) { static_cast<AgentCore*>(context)->wake(id); }

}  // namespace

void AgentCore::wake(std::uint64_t id) {
  Route route;
  {
    std::lock_guard<std::mutex> lock(routes_mutex_);
    auto const it = routes_.find(id);
    if (it == routes_.end()) return;
    route = it->second;
  }
  std::shared_ptr<AgentTorrent> const torrent = route.torrent.lock();
  if (!torrent) return;
  {
    std::lock_guard<std::mutex> lock(torrent->woken_mutex);
    bool const posted = !torrent->woken.empty();
    torrent->woken.push_back(id);
    if (posted) return;
  }
  std::weak_ptr<AgentTorrent> const weak = torrent;
  try {
    route.handle.add_extension([weak](lt::torrent_handle const&, lt::client_data_t) {
      if (std::shared_ptr<AgentTorrent> const t = weak.lock()) run_woken(t);
      return std::shared_ptr<lt::torrent_plugin>();
    });
  } catch (...) {
    // The torrent was removed: its connections are gone, nothing to wake.
  }
}

Attachment::Attachment(std::shared_ptr<AgentCore> core) : core_(std::move(core)), counters_(core_->counters) {}
Attachment::~Attachment() { stop(); }

PiecepayAgent* Attachment::agent() const {
  if (!core_) throw AttachError("shut_down", "payments were stopped");
  return core_->agent();
}

std::string Attachment::address() const {
  std::uint8_t raw[20];
  check(piecepay_agent_address(agent(), raw));
  return "0x" + to_hex(raw, sizeof raw);
}

std::string Attachment::report_json() const {
  Bytes out;
  check(piecepay_agent_report_json(agent(), &out.raw));
  return out.str();
}

std::optional<std::string> Attachment::next_event_json() const {
  Bytes out;
  check(piecepay_agent_next_event_json(agent(), &out.raw));
  if (out.raw.len == 0) return std::nullopt;
  return out.str();
}

std::string Attachment::withdraw(const std::string& to, const std::string& amount) const {
  std::uint8_t to_raw[20];
  if (!to.empty()) parse_hex(to, to_raw, "withdraw to");
  std::optional<PiecepayAmount> value;
  if (!amount.empty()) value = parse_amount(amount, "withdraw amount");
  std::uint8_t tx[32];
  check(piecepay_agent_withdraw(agent(), to.empty() ? nullptr : to_raw, value ? &*value : nullptr, tx));
  return "0x" + to_hex(tx, sizeof tx);
}

void Attachment::close_all() const { check(piecepay_agent_close_all(agent())); }

bool Attachment::payments_due() const {
  agent();
  return core_->payments_due.load() > 0;
}

const Counters& Attachment::counters() const { return *counters_; }

void Attachment::stop() {
  if (!core_) return;
  std::promise<void> freed;
  std::future<void> done = freed.get_future();
  core_->freed_.emplace(std::move(freed));
  core_->stopped_.store(true);
  core_->hashing_threads.give_back();
  // Links let go on the network thread (each connection's next tick); the agent is freed with the last.
  core_.reset();
  done.wait_for(std::chrono::seconds(10));
}

std::unique_ptr<Attachment> attach(lt::session& session, const std::string& config_path, const char* password,
                                   AttachOptions options) {
  if (options.reserved_percent > 100) throw AttachError("invalid_policy", "reserved_percent above 100");
  PiecepayAgent* agent = nullptr;
  check(piecepay_agent_new(config_path.c_str(), password, &agent));
  auto core = std::make_shared<AgentCore>(agent, session);
  check(piecepay_agent_set_wake(agent, &on_agent_wake, core.get()));
  std::weak_ptr<AgentCore> const weak = core;
  auto plugin = std::make_shared<SessionPlugin>(
      [weak](lt::torrent_handle const& h) { return std::make_shared<AgentTorrentPlugin>(weak, h); },
      [weak]() -> std::shared_ptr<Choker> {
        std::shared_ptr<AgentCore> const c = weak.lock();
        return c && !c->stopped() ? c->choker : nullptr;
      },
      options.reserved_percent);
  std::shared_future<void> const joined = plugin->started();
  session.add_extension(std::move(plugin));
  // A torrent already in the session joins on the plugin's first tick (up to libtorrent's tick_interval
  // away), and a connection made to it before then skips piecepay's handshake for good: unpaid, and
  // refused by a seller once it joins. Returning only once it has joined leaves the host one rule: the
  // connections open when attach returns are the ones to re-make.
  joined.wait();
  core->hashing_threads.raise();
  return std::make_unique<Attachment>(std::move(core));
}

}  // namespace piecepay::torrent
