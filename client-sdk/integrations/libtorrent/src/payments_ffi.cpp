// Payments over piecepay's C ABI (client-sdk/ffi/include/piecepay.h). A payee runs one PiecepayPayee
// handle per peer connection; a payer runs one PiecepayPayer handle per payee, shared by every connection
// to that payee, so a channel (one salt per payer and payee) never signs a receipt below one it signed
// before, even across reconnections. A handle is only ever used under its own mutex (the ABI's threading
// rule: never by two threads at once).
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "ffi_common.hpp"
#include "payments.hpp"
#include "peek.hpp"

namespace piecepay::torrent {
namespace {

using ffi::amount_text;
using ffi::as_u128;
using ffi::Bytes;
using ffi::new_payee;
using ffi::new_payer;
using ffi::Outbox;
using ffi::Outcome;
using ffi::parse_amount;
using ffi::parse_hex;
using ffi::PayeeHandle;
using ffi::PayerHandle;
using ffi::to_hex;
using ffi::u128;
using ffi::Worker;

std::string address_hex(const std::string& bytes20) {
  return to_hex(reinterpret_cast<const std::uint8_t*>(bytes20.data()), bytes20.size());
}

std::string address_bytes(const std::string& hex, const char* what) {
  std::uint8_t raw[20];
  parse_hex(hex, raw, what);
  return std::string(reinterpret_cast<const char*>(raw), 20);
}

// --- selling ---------------------------------------------------------------------------------------------

/// What a payee knows about its channels, shared by all its peer conversations (and read by the demo):
/// the highest receipt of each, and what was served and accepted on it.
class PayeeBook {
 public:
  /// A channel seen funded: start counting on it (again, after a reconnection).
  void opened(const std::string& channel_id, std::string payer, std::string payee, std::uint32_t salt) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[channel_id];
    e.stats.channel_id = channel_id;
    e.stats.payer = std::move(payer);
    e.stats.payee = std::move(payee);
    e.stats.salt = salt;
  }
  /// A piece worth `price` was served on the channel (over any connection).
  void served(const std::string& channel_id, u128 price) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[channel_id];
    ++e.stats.pieces;
    e.served += price;
  }
  /// Whether the channel's payer owes for pieces served: counted over the channel's whole life, so a
  /// payer met again on a new connection is not taken as owing nothing (its new conversation starts
  /// from zero while its cumulative goes on).
  bool owed(const std::string& channel_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto const it = entries_.find(channel_id);
    return it != entries_.end() && it->second.served > it->second.cumulative;
  }
  /// Keeps the higher of what is held and `r` (a receipt is only ever superseded by a higher one).
  void accepted(ReceiptRecord r, u128 cumulative) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[r.channel_id];
    ++e.stats.receipts;
    if (e.receipt && cumulative <= e.cumulative) return;
    e.cumulative = cumulative;
    e.stats.cumulative = r.cumulative;
    e.receipt = std::move(r);
  }
  std::vector<ReceiptRecord> receipts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<ReceiptRecord> out;
    for (auto const& [id, e] : entries_)
      if (e.receipt) out.push_back(*e.receipt);
    return out;
  }
  std::vector<ChannelStats> stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<ChannelStats> out;
    for (auto const& [id, e] : entries_) out.push_back(e.stats);
    return out;
  }

 private:
  struct Entry {
    ChannelStats stats;
    std::optional<ReceiptRecord> receipt;
    u128 cumulative = 0;
    u128 served = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

/// (payer address bytes, salt) → the deposit the caller saw on chain.
using VerifiedChannels = std::map<std::pair<std::string, std::uint32_t>, PiecepayAmount>;

/// The payee's session-wide context, read by every conversation (on the network thread and the worker).
struct PayeeContext {
  const Options* options = nullptr;
  PayeeBook* book = nullptr;
  const VerifiedChannels* verified = nullptr;
  bool trust_claims = false;
  std::string address;  ///< 0x hex
};

struct PayeeCore : Outbox {
  explicit PayeeCore(PayeeHandle h) : handle(std::move(h)) {}
  PayeeHandle const handle;  ///< used only with `mutex` held
  std::atomic<bool> funded{false};
  /// piecepay_payee_allowance after the handle's last call: > 0 exactly when it said `SERVE`.
  std::atomic<std::uint64_t> allowance{0};
  std::atomic<bool> owed{false};
  std::string channel_id;  ///< set once funded; guarded by `mutex`
};

class FfiPayee final : public PayeePeer {
 public:
  FfiPayee(const PiecepayPayeeConfig& config, const PayeeContext& ctx, Counters& counters, Worker& worker)
      : core_(std::make_shared<PayeeCore>(new_payee(config))), ctx_(ctx), counters_(counters), worker_(worker) {}
  // The connection is gone: a receipt it left held unverified is still worth accepting.
  ~FfiPayee() override { post_verify(unix_now()); }
  FfiPayee(const FfiPayee&) = delete;
  FfiPayee& operator=(const FfiPayee&) = delete;

  void start(std::uint64_t) override {
    std::lock_guard<std::mutex> lock(core_->mutex);
    Bytes terms;
    if (piecepay_payee_terms(core_->handle.get(), &terms.raw) == PIECEPAY_STATUS_OK) core_->push(terms.str());
  }

  // Every message is cheap to handle (a receipt is only checked and held), so all are handled at once;
  // verifying a held receipt — a signature recovery — goes to the worker when it is due.
  void on_message(std::string_view payload, std::uint64_t now) override {
    if (handle_message(*core_, ctx_, counters_, payload, now)) post_verify(now);
  }

  bool paying() const override { return core_->funded.load(std::memory_order_acquire); }
  PiecepayAmount price() const override {
    std::lock_guard<std::mutex> lock(core_->mutex);
    PiecepayChannelInfo info{};
    if (piecepay_payee_info(core_->handle.get(), &info) != PIECEPAY_STATUS_OK) return PiecepayAmount{};
    return info.price;
  }
  std::uint64_t allowance() const override { return core_->allowance.load(std::memory_order_acquire); }
  bool owed() const override { return core_->owed.load(std::memory_order_acquire); }

  void on_piece_served(std::uint64_t now) override {
    std::lock_guard<std::mutex> lock(core_->mutex);
    Outcome o;
    if (piecepay_payee_on_piece_served(core_->handle.get(), now, &o.raw) != PIECEPAY_STATUS_OK) {
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    } else if (!core_->channel_id.empty()) {
      PiecepayChannelInfo info{};
      if (piecepay_payee_info(core_->handle.get(), &info) == PIECEPAY_STATUS_OK)
        ctx_.book->served(core_->channel_id, as_u128(info.price));
    }
    apply(*core_, ctx_, o);
    if (o.has(PIECEPAY_ACTION_VERIFY_RECEIPT)) post_verify(now);
  }

  void on_tick(std::uint64_t now) override { post_verify(now); }

  std::vector<std::string> take_outgoing() override { return core_->take(); }

 private:
  // Returns whether a held receipt is due for verification.
  static bool handle_message(PayeeCore& core, const PayeeContext& ctx, Counters& counters, std::string_view payload,
                             std::uint64_t now) {
    std::lock_guard<std::mutex> lock(core.mutex);
    Outcome o;
    auto const status = piecepay_payee_on_message(
        core.handle.get(), reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), now, &o.raw);
    if (o.raw.received == PIECEPAY_MESSAGE_KIND_RECEIPT && status != PIECEPAY_STATUS_OK)
      counters.receipts_rejected.fetch_add(1, std::memory_order_relaxed);
    else if (status != PIECEPAY_STATUS_OK)
      counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    // Persist before the acknowledgement (the reply) leaves.
    if (o.has(PIECEPAY_ACTION_PERSIST_RECEIPT)) persist_receipt(core, ctx, counters);
    if (o.has(PIECEPAY_ACTION_CHECK_CHANNEL)) check_channel(core, ctx, counters, payload, o.raw.amount, now);
    apply(core, ctx, o);
    return o.has(PIECEPAY_ACTION_VERIFY_RECEIPT);
  }

  /// Verifies the receipt held unverified, if any, on the worker.
  void post_verify(std::uint64_t now) {
    worker_.post([core = core_, ctx = &ctx_, counters = &counters_, now] {
      std::lock_guard<std::mutex> lock(core->mutex);
      Outcome o;
      if (piecepay_payee_verify_receipt(core->handle.get(), now, &o.raw) != PIECEPAY_STATUS_OK)
        counters->receipts_rejected.fetch_add(1, std::memory_order_relaxed);
      // Persist before the acknowledgement (the reply) leaves.
      if (o.has(PIECEPAY_ACTION_PERSIST_RECEIPT)) persist_receipt(*core, *ctx, *counters);
      apply(*core, *ctx, o);
    });
  }

  // The `channel` message is a claim. The deposit served against is the one the caller saw on chain for
  // this (payer, salt) — `verified_channels` — or, in the chainless test mode only, the claim itself.
  // The handle already checked that the message names the channel agreed in the bid, so its payer and
  // salt are the channel's. A channel found in neither stays unfunded: the peer gets the free share.
  static void check_channel(PayeeCore& core, const PayeeContext& ctx, Counters& counters, std::string_view payload,
                            PiecepayAmount claimed, std::uint64_t now) {
    auto const payer = peek::bytes(payload, "payer", 20);
    auto const salt = peek::u32(payload, "salt");
    std::optional<PiecepayAmount> deposit;
    if (payer && salt) {
      auto const it = ctx.verified->find({*payer, *salt});
      if (it != ctx.verified->end()) deposit = it->second;
    }
    if (!deposit && ctx.trust_claims) deposit = claimed;
    if (!deposit) return;
    Outcome o;
    if (piecepay_payee_channel_funded(core.handle.get(), *deposit, now, &o.raw) != PIECEPAY_STATUS_OK) {
      counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      apply(core, ctx, o);
      return;
    }
    PiecepayChannelInfo info{};
    if (piecepay_payee_info(core.handle.get(), &info) == PIECEPAY_STATUS_OK && payer && salt) {
      core.channel_id = to_hex(info.channel_id, 32);
      ctx.book->opened(core.channel_id, address_hex(*payer), ctx.address, *salt);
    }
    core.funded.store(true, std::memory_order_release);
    apply(core, ctx, o);
  }

  static void persist_receipt(PayeeCore& core, const PayeeContext& ctx, Counters& counters) {
    PiecepayReceipt r{};
    if (piecepay_payee_latest_receipt(core.handle.get(), &r) != PIECEPAY_STATUS_OK) return;
    ReceiptRecord rec;
    rec.channel_id = to_hex(r.channel_id, 32);
    rec.payer = to_hex(r.payer, 20);
    rec.payee = to_hex(r.payee, 20);
    rec.salt = r.salt;
    rec.cumulative = amount_text(r.cumulative);
    rec.signature = to_hex(r.signature, 64);
    rec.chain_id = ctx.options->chain.chain_id;
    rec.escrow = ctx.options->chain.escrow;
    ctx.book->accepted(std::move(rec), as_u128(r.cumulative));
    counters.receipts_accepted.fetch_add(1, std::memory_order_relaxed);
  }

  // Called with the core's mutex held, after every call into the handle: the allowance is read in the
  // same critical section as the call, so it is the handle's own (above 0 exactly when it said `SERVE`),
  // never a flag and a count taken at two moments.
  static void apply(PayeeCore& core, const PayeeContext& ctx, const Outcome& o) {
    core.push(o);
    core.allowance.store(piecepay_payee_allowance(core.handle.get()), std::memory_order_release);
    if (!core.channel_id.empty()) core.owed.store(ctx.book->owed(core.channel_id), std::memory_order_release);
  }

  std::shared_ptr<PayeeCore> core_;
  const PayeeContext& ctx_;
  Counters& counters_;
  Worker& worker_;
};

// --- buying ----------------------------------------------------------------------------------------------

/// The payer's channel to one payee, for the session's lifetime. Its outbox holds receipts, which any
/// connection to the payee may carry once it has announced the channel on that connection.
struct PayerChannel : Outbox {
  explicit PayerChannel(PayerHandle h) : handle(std::move(h)) {}
  PayerHandle const handle;  ///< used only with `mutex` held
  std::string payee;         ///< 20 address bytes
  std::uint32_t salt = 0;
  PiecepayAmount deposit{};
  bool adopt = false;         ///< opened on chain by the caller: adopt it, never sign an open
  bool funded = false;        ///< guarded by `mutex`
  std::uint64_t pieces = 0;   ///< pieces owed for; guarded by `mutex`
  std::uint64_t signed_ = 0;  ///< receipts signed; guarded by `mutex`
  std::uint64_t paying = 0;   ///< pieces handed to the worker (default_after_pieces counts these)
  /// Pieces handed to the worker to pay and not yet signed.
  std::atomic<std::uint64_t> pending{0};
  std::atomic<bool> unacknowledged{false};

  // Called with the mutex held.
  void refresh() {
    PiecepayChannelInfo info{};
    if (piecepay_payer_info(handle.get(), &info) == PIECEPAY_STATUS_OK)
      unacknowledged.store(as_u128(info.paid) > as_u128(info.acknowledged), std::memory_order_release);
  }
};

/// Finds or creates the channel to a payee (session-wide); null when this payer does not pay that payee.
class PayerChannels {
 public:
  virtual ~PayerChannels() = default;
  virtual std::shared_ptr<PayerChannel> channel_to(const std::string& payee, Counters& counters) = 0;
};

class FfiPayer final : public PayerPeer {
 public:
  FfiPayer(PayerChannels& channels, std::uint64_t default_after, Counters& counters, Worker& worker)
      : channels_(channels), default_after_(default_after), counters_(counters), worker_(worker) {}

  void on_message(std::string_view payload, std::uint64_t now) override {
    if (!channel_ && !bind(payload)) return;
    std::lock_guard<std::mutex> lock(channel_->mutex);
    Outcome o;
    auto const status = piecepay_payer_on_message(
        channel_->handle.get(), reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), now, &o.raw);
    if (status != PIECEPAY_STATUS_OK) counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> out_lock(replies_.mutex);
      replies_.push(o);
    }
    if (o.has(PIECEPAY_ACTION_OPEN_CHANNEL)) {
      fund(now);
    } else if (status == PIECEPAY_STATUS_OK && o.raw.received == PIECEPAY_MESSAGE_KIND_ACCEPT && channel_->funded &&
               !announced_.load(std::memory_order_acquire)) {
      // A payee met again on a new connection: its new conversation has to hear about the channel. (An
      // accept of a raised bid on this connection needs no announcement: it knows the channel.)
      announce(now);
    }
    if (o.raw.received == PIECEPAY_MESSAGE_KIND_RECEIPT_ACK) channel_->refresh();
    if (o.raw.received == PIECEPAY_MESSAGE_KIND_PAYMENT_REQUIRED)
      payment_required_.store(true, std::memory_order_release);
  }

  void on_choked(std::uint64_t now) override {
    if (!channel_ || !announced_.load(std::memory_order_acquire)) return;  // about the channel, not a slot
    if (payment_required_.load(std::memory_order_acquire)) return;         // paying, not bidding, is the answer
    std::lock_guard<std::mutex> lock(channel_->mutex);
    Outcome o;
    if (piecepay_payer_on_choked(channel_->handle.get(), now, &o.raw) != PIECEPAY_STATUS_OK) return;
    if (o.raw.reply.len == 0) return;  // not raised: too soon, at the maximum, or over budget
    counters_.bids_raised.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> out_lock(replies_.mutex);
    replies_.push(o);
  }

  void on_unchoked() override { payment_required_.store(false, std::memory_order_release); }

  void on_piece_passed(std::uint64_t now) override {
    if (!channel_) {
      counters_.pieces_unpaid.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(channel_->mutex);
      if (!channel_->funded) {
        counters_.pieces_unpaid.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      ++channel_->pieces;
      if (default_after_ != 0 && channel_->paying >= default_after_) return;
      ++channel_->paying;
    }
    channel_->pending.fetch_add(1, std::memory_order_relaxed);
    worker_.post([channel = channel_, counters = &counters_, now] {
      std::lock_guard<std::mutex> lock(channel->mutex);
      Outcome o;
      if (piecepay_payer_on_piece_verified(channel->handle.get(), now, &o.raw) == PIECEPAY_STATUS_OK) {
        counters->pieces_paid.fetch_add(1, std::memory_order_relaxed);
        ++channel->signed_;
        channel->push(o);
        channel->unacknowledged.store(true, std::memory_order_release);
      } else {
        counters->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      }
      channel->pending.fetch_sub(1, std::memory_order_release);
    });
  }

  bool unacknowledged() const override {
    return channel_ && (channel_->pending.load(std::memory_order_acquire) > 0 ||
                        channel_->unacknowledged.load(std::memory_order_acquire));
  }

  // Replies to this connection's messages first: the `channel` announcement precedes any receipt.
  std::vector<std::string> take_outgoing() override {
    std::vector<std::string> out = replies_.take();
    if (announced_.load(std::memory_order_acquire)) {
      for (std::string& m : channel_->take()) out.push_back(std::move(m));
    }
    return out;
  }

 private:
  // Nothing to talk about before the payee's terms, which name the payee and so the channel.
  bool bind(std::string_view payload) {
    PiecepayMessageKind kind = PIECEPAY_MESSAGE_KIND_NONE;
    piecepay_message_kind(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), &kind);
    if (kind != PIECEPAY_MESSAGE_KIND_TERMS) return false;
    auto const payee = peek::bytes(payload, "payee", 20);
    if (!payee) {
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    channel_ = channels_.channel_to(*payee, counters_);
    return channel_ != nullptr;
  }

  // The first accept of the channel. Caller-funded: the channel is already open on chain, adopt it. Else
  // the signed gasless open is what a relayer would submit; the chainless demo adopts the channel at once
  // (fixed test keys, nothing is deposited). Called with the channel's mutex held.
  void fund(std::uint64_t now) {
    if (!channel_->adopt) {
      PiecepaySignedOpen signed_open{};
      if (piecepay_payer_open(channel_->handle.get(), channel_->deposit, PiecepayAmount{0, 0}, now, &signed_open) !=
          PIECEPAY_STATUS_OK) {
        counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    if (announce(now)) channel_->funded = true;
  }

  // Tells this connection's payee the channel is funded. Called with the channel's mutex held.
  bool announce(std::uint64_t now) {
    Outcome o;
    if (piecepay_payer_channel_funded(channel_->handle.get(), channel_->deposit, nullptr, now, &o.raw) !=
        PIECEPAY_STATUS_OK) {
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    {
      std::lock_guard<std::mutex> out_lock(replies_.mutex);
      replies_.push(o);
    }
    announced_.store(true, std::memory_order_release);
    return true;
  }

  PayerChannels& channels_;
  std::shared_ptr<PayerChannel> channel_;
  Outbox replies_;
  std::atomic<bool> announced_{false};
  /// The payee asked for payment (over its credit or the deposit) since it last unchoked us.
  std::atomic<bool> payment_required_{false};
  std::uint64_t default_after_;
  Counters& counters_;
  Worker& worker_;
};

/// What the C ABI's payee and payer configs share: the EIP-712 domain their messages are signed in (chain
/// id, escrow, token) and the key that signs them (`key_what` names it in an error).
template <class Config>
void set_domain_and_key(Config& config, const ChainOptions& chain, const std::string& key_hex, const char* key_what) {
  config.chain_id = chain.chain_id;
  parse_hex(chain.escrow, config.escrow, "escrow");
  parse_hex(chain.token, config.token, "token");
  parse_hex(key_hex, config.secret_key, key_what);
}

// --- the session -----------------------------------------------------------------------------------------

class FfiPayments final : public Payments, private PayerChannels {
 public:
  explicit FfiPayments(const Options& options) : options_(options) {
    if (options.payee) {
      set_domain_and_key(payee_, options.chain, options.payee->key_hex, "payee key");
      payee_.min_price = parse_amount(options.payee->price, "price");
      payee_.credit_pieces = options.payee->credit_pieces;
      // Validate once, up front, so a bad configuration fails at construction rather than per peer.
      std::uint8_t address[20];
      piecepay_payee_address(new_payee(payee_).get(), address);
      for (auto const& k : options.payee->verified_channels)
        verified_[{address_bytes(k.peer, "verified channel payer"), k.salt}] =
            parse_amount(k.deposit, "verified channel deposit");
      payee_ctx_ =
          PayeeContext{&options_, &book_, &verified_, options.payee->trust_claimed_deposit, to_hex(address, 20)};
    }
    if (options.payer) {
      set_domain_and_key(payer_, options.chain, options.payer->key_hex, "payer key");
      payer_.max_price = parse_amount(options.payer->max_price, "max price");
      payer_.bid_step =
          options.payer->bid_step.empty() ? payer_.max_price : parse_amount(options.payer->bid_step, "bid step");
      deposit_ = parse_amount(options.payer->deposit, "deposit");
      payer_.auth_ttl = 3600;
      for (auto const& k : options.payer->open_channels)
        open_[address_bytes(k.peer, "open channel payee")] = {k.salt, parse_amount(k.deposit, "open channel deposit")};
      // Salts must not repeat for one (payer, payee): start from the clock, one per payee met.
      next_salt_ = static_cast<std::uint32_t>(unix_now());
      payer_.salt = next_salt_;
      payer_.budget = deposit_;
      std::uint8_t address[20];
      piecepay_payer_address(new_payer(payer_).get(), address);
      payer_address_ = to_hex(address, 20);
    }
  }

  std::unique_ptr<PayeePeer> payee_peer(Counters& counters) override {
    if (!options_.payee) return nullptr;
    return std::make_unique<FfiPayee>(payee_, payee_ctx_, counters, worker_);
  }

  std::unique_ptr<PayerPeer> payer_peer(Counters& counters) override {
    if (!options_.payer) return nullptr;
    return std::make_unique<FfiPayer>(static_cast<PayerChannels&>(*this), options_.payer->default_after_pieces,
                                      counters, worker_);
  }

  std::vector<ReceiptRecord> latest_receipts() const override { return book_.receipts(); }

  std::vector<ChannelStats> channels() const override {
    std::vector<ChannelStats> out = book_.stats();
    std::lock_guard<std::mutex> lock(channels_mutex_);
    for (auto const& [payee, channel] : channels_) {
      std::lock_guard<std::mutex> channel_lock(channel->mutex);
      if (!channel->funded) continue;
      PiecepayChannelInfo info{};
      if (piecepay_payer_info(channel->handle.get(), &info) != PIECEPAY_STATUS_OK) continue;
      ChannelStats s;
      s.channel_id = to_hex(info.channel_id, 32);
      s.payer = payer_address_;
      s.payee = address_hex(payee);
      s.salt = channel->salt;
      s.pieces = channel->pieces;
      s.receipts = channel->signed_;
      s.cumulative = amount_text(info.paid);
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  std::shared_ptr<PayerChannel> channel_to(const std::string& payee, Counters& counters) override {
    std::lock_guard<std::mutex> lock(channels_mutex_);
    auto const found = channels_.find(payee);
    if (found != channels_.end()) return found->second;
    PiecepayPayerConfig config = payer_;
    PiecepayAmount deposit = deposit_;
    bool adopt = false;
    if (!open_.empty()) {
      auto const known = open_.find(payee);
      if (known == open_.end()) return nullptr;  // a payee we have no channel with: not bid to
      config.salt = known->second.first;
      deposit = known->second.second;
      adopt = true;
    } else {
      config.salt = next_salt_++;
    }
    config.budget = deposit;  // one channel per handle: it never spends more than its deposit
    std::shared_ptr<PayerChannel> channel;
    try {
      channel = std::make_shared<PayerChannel>(new_payer(config));
    } catch (std::invalid_argument const&) {  // the options were validated at construction: not expected
      counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    channel->payee = payee;
    channel->deposit = deposit;
    channel->adopt = adopt;
    channel->salt = config.salt;
    channels_[payee] = channel;
    return channel;
  }

  const Options& options_;
  PiecepayPayeeConfig payee_{};
  PayeeContext payee_ctx_;
  VerifiedChannels verified_;
  PiecepayPayerConfig payer_{};
  std::string payer_address_;
  PiecepayAmount deposit_{};
  std::uint32_t next_salt_ = 0;
  std::map<std::string, std::pair<std::uint32_t, PiecepayAmount>> open_;
  mutable std::mutex channels_mutex_;
  std::map<std::string, std::shared_ptr<PayerChannel>> channels_;
  PayeeBook book_;
  // Last: destroyed first, so queued jobs finish while the book they write to still exists.
  Worker worker_;
};

}  // namespace

std::string address_of(const std::string& key_hex) {
  PiecepayPayerConfig config{};
  parse_hex(key_hex, config.secret_key, "key");
  config.max_price = PiecepayAmount{1, 0};
  config.bid_step = config.max_price;
  config.budget = config.max_price;
  config.auth_ttl = 1;
  std::uint8_t address[20];
  piecepay_payer_address(new_payer(config).get(), address);
  return to_hex(address, 20);
}

const char* version_key() { return piecepay_version_key(); }
std::int64_t protocol_version() { return static_cast<std::int64_t>(PIECEPAY_VERSION); }
std::uint64_t negotiate_version(std::int64_t theirs) { return piecepay_negotiate_version(theirs); }

bool for_payee(std::string_view payload) {
  PiecepayMessageKind kind = PIECEPAY_MESSAGE_KIND_NONE;
  piecepay_message_kind(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), &kind);
  return kind == PIECEPAY_MESSAGE_KIND_BID || kind == PIECEPAY_MESSAGE_KIND_CHANNEL ||
         kind == PIECEPAY_MESSAGE_KIND_RECEIPT;
}

std::unique_ptr<Payments> make_payments(const Options& options) { return std::make_unique<FfiPayments>(options); }

}  // namespace piecepay::torrent
