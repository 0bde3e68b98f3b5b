// Payments over piecepay's C ABI (client-sdk/ffi/include/piecepay.h): one PiecepayPayee / PiecepayPayer
// handle per peer connection, driven from libtorrent's network thread only (the ABI's threading rule: a
// handle is never used by two threads at once).
#include <piecepay.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <stdexcept>

#include "payments.hpp"

namespace piecepay::torrent {
namespace {

// Token amounts are up to 96 bits: the compiler's 128-bit integer carries them (a GCC/Clang extension).
__extension__ typedef unsigned __int128 u128;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <std::size_t N>
void parse_hex(const std::string& text, std::uint8_t (&out)[N], const char* what) {
  std::string_view s = text;
  if (s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0) s.remove_prefix(2);
  if (s.size() != 2 * N) throw std::invalid_argument(std::string("invalid_argument: ") + what + " needs " + std::to_string(N) + " hex bytes");
  for (std::size_t i = 0; i < N; ++i) {
    int const hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) throw std::invalid_argument(std::string("invalid_argument: ") + what + " is not hex");
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
}

std::string to_hex(const std::uint8_t* data, std::size_t n) {
  static const char* const digits = "0123456789abcdef";
  std::string s = "0x";
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[data[i] >> 4];
    s += digits[data[i] & 15];
  }
  return s;
}

PiecepayAmount parse_amount(const std::string& text, const char* what) {
  u128 v = 0;
  if (text.empty()) throw std::invalid_argument(std::string("invalid_argument: ") + what + " is empty");
  for (char c : text) {
    if (c < '0' || c > '9') throw std::invalid_argument(std::string("invalid_argument: ") + what + " is not a decimal amount");
    u128 const next = v * 10 + static_cast<unsigned>(c - '0');
    if (next / 10 != v) throw std::invalid_argument(std::string("invalid_argument: ") + what + " overflows");
    v = next;
  }
  return PiecepayAmount{static_cast<std::uint64_t>(v), static_cast<std::uint64_t>(v >> 64)};
}

u128 as_u128(PiecepayAmount a) { return (static_cast<u128>(a.hi) << 64) | a.lo; }

std::string amount_text(PiecepayAmount a) {
  u128 v = (static_cast<u128>(a.hi) << 64) | a.lo;
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

std::string last_error() {
  const char* code = piecepay_last_error_code();
  const char* msg = piecepay_last_error_message();
  return std::string(code ? code : "unknown") + ": " + (msg ? msg : "");
}

/// An outcome whose reply bytes are always freed.
struct Outcome {
  PiecepayOutcome raw{};
  Outcome() = default;
  Outcome(const Outcome&) = delete;
  Outcome& operator=(const Outcome&) = delete;
  ~Outcome() { piecepay_bytes_free(raw.reply); }
  std::string reply() const {
    return std::string(reinterpret_cast<const char*>(raw.reply.data), raw.reply.len);
  }
  bool has(std::uint32_t action) const { return (raw.actions & action) != 0; }
};

/// The receipts a payee holds, shared by all its peer conversations (and read by the demo).
class ReceiptBook {
 public:
  void put(ReceiptRecord r) {
    std::lock_guard<std::mutex> lock(mutex_);
    records_[r.channel_id] = std::move(r);
  }
  std::vector<ReceiptRecord> all() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<ReceiptRecord> out;
    for (auto const& [id, r] : records_) out.push_back(r);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ReceiptRecord> records_;
};

/// One thread that signs and verifies, so the ~50-100 µs of secp256k1 work per piece and side runs
/// beside libtorrent's network thread instead of on it. Jobs run in order (receipts stay increasing);
/// the destructor runs what is queued, then joins.
class Worker {
 public:
  Worker() : thread_([this] { run(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

/// What the network thread and the worker share about one peer. `mutex` guards the handle and `out`;
/// the flags are read lock-free by the network thread.
struct Shared {
  std::mutex mutex;
  std::vector<std::string> out;
  std::atomic<bool> has_out{false};

  void push(const Outcome& o) {
    if (o.raw.reply.len == 0) return;
    out.push_back(o.reply());
    has_out.store(true, std::memory_order_release);
  }
  std::vector<std::string> take() {
    if (!has_out.load(std::memory_order_acquire)) return {};
    std::lock_guard<std::mutex> lock(mutex);
    has_out.store(false, std::memory_order_relaxed);
    return std::exchange(out, {});
  }
};

struct PayeeCore : Shared {
  PiecepayPayee* handle = nullptr;
  std::atomic<bool> funded{false};
  std::atomic<bool> serve{false};
  std::atomic<bool> owed{false};
  ~PayeeCore() { piecepay_payee_free(handle); }
};

class FfiPayee final : public PayeePeer {
 public:
  FfiPayee(const PiecepayPayeeConfig& config, bool trust, const Options& options, ReceiptBook& book,
           Counters& counters, Worker& worker)
      : core_(std::make_shared<PayeeCore>()), trust_(trust), options_(options), book_(book), counters_(counters),
        worker_(worker) {
    if (piecepay_payee_new(&config, &core_->handle) != PIECEPAY_STATUS_OK) throw std::invalid_argument(last_error());
  }

  void start(std::uint64_t) override {
    std::lock_guard<std::mutex> lock(core_->mutex);
    PiecepayBytes terms{};
    if (piecepay_payee_terms(core_->handle, &terms) == PIECEPAY_STATUS_OK) {
      core_->out.emplace_back(reinterpret_cast<const char*>(terms.data), terms.len);
      core_->has_out = true;
    }
    piecepay_bytes_free(terms);
  }

  // Receipts (a signature recovery each) go to the worker; everything else is cheap and answered at
  // once, so the opening handshake never waits for a worker round trip.
  void on_message(std::string_view payload, std::uint64_t now) override {
    PiecepayMessageKind kind = PIECEPAY_MESSAGE_KIND_NONE;
    piecepay_message_kind(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), &kind);
    if (kind == PIECEPAY_MESSAGE_KIND_RECEIPT) {
      worker_.post([this_core = core_, self = Ctx{trust_, &options_, &book_, &counters_}, bytes = std::string(payload),
                    now] { handle_message(*this_core, self, bytes, now); });
      return;
    }
    handle_message(*core_, Ctx{trust_, &options_, &book_, &counters_}, payload, now);
  }

  bool paying() const override { return core_->funded.load(std::memory_order_acquire); }
  bool may_serve() const override { return core_->serve.load(std::memory_order_acquire); }
  bool owed() const override { return core_->owed.load(std::memory_order_acquire); }

  bool on_piece_served(std::uint64_t now) override {
    std::lock_guard<std::mutex> lock(core_->mutex);
    Outcome o;
    if (piecepay_payee_on_piece_served(core_->handle, now, &o.raw) != PIECEPAY_STATUS_OK)
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    apply(*core_, o);
    return may_serve();
  }

  std::vector<std::string> take_outgoing() override { return core_->take(); }

 private:
  struct Ctx {
    bool trust;
    const Options* options;
    ReceiptBook* book;
    Counters* counters;
  };

  static void handle_message(PayeeCore& core, Ctx ctx, std::string_view payload, std::uint64_t now) {
    std::lock_guard<std::mutex> lock(core.mutex);
    Outcome o;
    auto const status = piecepay_payee_on_message(core.handle, reinterpret_cast<const std::uint8_t*>(payload.data()),
                                                  payload.size(), now, &o.raw);
    if (o.raw.received == PIECEPAY_MESSAGE_KIND_RECEIPT && status != PIECEPAY_STATUS_OK)
      ctx.counters->receipts_rejected.fetch_add(1, std::memory_order_relaxed);
    else if (status != PIECEPAY_STATUS_OK)
      ctx.counters->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    // Persist before the acknowledgement (the reply) leaves.
    if (o.has(PIECEPAY_ACTION_PERSIST_RECEIPT)) persist_receipt(core, ctx);
    if (o.has(PIECEPAY_ACTION_CHECK_CHANNEL)) check_channel(core, ctx, o.raw.amount, now);
    apply(core, o);
  }

  // No chain in the demo: the claimed deposit is taken as seen on chain only when configured so.
  // A production integrator reads the escrow (or a trusted relayer) here instead.
  static void check_channel(PayeeCore& core, Ctx ctx, PiecepayAmount claimed, std::uint64_t now) {
    if (!ctx.trust) return;
    Outcome o;
    if (piecepay_payee_channel_funded(core.handle, claimed, now, &o.raw) != PIECEPAY_STATUS_OK) {
      ctx.counters->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    } else {
      core.funded.store(true, std::memory_order_release);
    }
    apply(core, o);
  }

  static void persist_receipt(PayeeCore& core, Ctx ctx) {
    PiecepayReceipt r{};
    if (piecepay_payee_latest_receipt(core.handle, &r) != PIECEPAY_STATUS_OK) return;
    ReceiptRecord rec;
    rec.channel_id = to_hex(r.channel_id, 32);
    rec.payer = to_hex(r.payer, 20);
    rec.payee = to_hex(r.payee, 20);
    rec.salt = r.salt;
    rec.cumulative = amount_text(r.cumulative);
    rec.signature = to_hex(r.signature, 64);
    rec.chain_id = ctx.options->chain.chain_id;
    rec.escrow = ctx.options->chain.escrow;
    ctx.book->put(std::move(rec));
    ctx.counters->receipts_accepted.fetch_add(1, std::memory_order_relaxed);
  }

  // Called with the core's mutex held.
  static void apply(PayeeCore& core, const Outcome& o) {
    core.push(o);
    if (o.has(PIECEPAY_ACTION_SERVE)) core.serve.store(true, std::memory_order_release);
    if (o.has(PIECEPAY_ACTION_CHOKE)) core.serve.store(false, std::memory_order_release);
    PiecepayChannelInfo info{};
    if (core.funded.load(std::memory_order_relaxed) && piecepay_payee_info(core.handle, &info) == PIECEPAY_STATUS_OK)
      core.owed.store(as_u128(info.served) > as_u128(info.paid), std::memory_order_release);
  }

  std::shared_ptr<PayeeCore> core_;
  bool trust_;
  const Options& options_;
  ReceiptBook& book_;
  Counters& counters_;
  Worker& worker_;
};

struct PayerCore : Shared {
  PiecepayPayer* handle = nullptr;
  /// Pieces handed to the worker to pay and not yet signed.
  std::atomic<std::uint64_t> pending{0};
  std::atomic<bool> unacknowledged{false};
  ~PayerCore() { piecepay_payer_free(handle); }

  // Called with the mutex held.
  void refresh() {
    PiecepayChannelInfo info{};
    if (piecepay_payer_info(handle, &info) == PIECEPAY_STATUS_OK)
      unacknowledged.store(as_u128(info.paid) > as_u128(info.acknowledged), std::memory_order_release);
  }
};

class FfiPayer final : public PayerPeer {
 public:
  FfiPayer(const PiecepayPayerConfig& config, PiecepayAmount deposit, std::uint64_t default_after, Counters& counters,
           Worker& worker)
      : core_(std::make_shared<PayerCore>()), deposit_(deposit), default_after_(default_after), counters_(counters),
        worker_(worker) {
    if (piecepay_payer_new(&config, &core_->handle) != PIECEPAY_STATUS_OK) throw std::invalid_argument(last_error());
  }

  void on_message(std::string_view payload, std::uint64_t now) override {
    std::lock_guard<std::mutex> lock(core_->mutex);
    Outcome o;
    if (piecepay_payer_on_message(core_->handle, reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(),
                                  now, &o.raw) != PIECEPAY_STATUS_OK)
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    core_->push(o);
    if (o.has(PIECEPAY_ACTION_OPEN_CHANNEL)) open(now);
    if (o.raw.received == PIECEPAY_MESSAGE_KIND_RECEIPT_ACK) core_->refresh();
  }

  void on_piece_passed(std::uint64_t now) override {
    if (default_after_ != 0 && paid_ >= default_after_) return;
    ++paid_;
    core_->pending.fetch_add(1, std::memory_order_relaxed);
    worker_.post([core = core_, counters = &counters_, now] {
      std::lock_guard<std::mutex> lock(core->mutex);
      Outcome o;
      if (piecepay_payer_on_piece_verified(core->handle, now, &o.raw) == PIECEPAY_STATUS_OK) {
        counters->pieces_paid.fetch_add(1, std::memory_order_relaxed);
        core->push(o);
        core->unacknowledged.store(true, std::memory_order_release);
      }
      core->pending.fetch_sub(1, std::memory_order_release);
    });
  }

  bool unacknowledged() const override {
    return core_->pending.load(std::memory_order_acquire) > 0 || core_->unacknowledged.load(std::memory_order_acquire);
  }

  std::vector<std::string> take_outgoing() override { return core_->take(); }

 private:
  // The signed gasless open is what a relayer would submit; without a chain the demo adopts the channel
  // as funded right away (fixed test keys, nothing is really deposited). Called with the mutex held.
  void open(std::uint64_t now) {
    PiecepaySignedOpen signed_open{};
    if (piecepay_payer_open(core_->handle, deposit_, PiecepayAmount{0, 0}, now, &signed_open) != PIECEPAY_STATUS_OK) {
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    Outcome o;
    if (piecepay_payer_channel_funded(core_->handle, deposit_, nullptr, now, &o.raw) != PIECEPAY_STATUS_OK) {
      counters_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    core_->push(o);
  }

  std::shared_ptr<PayerCore> core_;
  PiecepayAmount deposit_;
  std::uint64_t default_after_;
  std::uint64_t paid_ = 0;
  Counters& counters_;
  Worker& worker_;
};

class FfiPayments final : public Payments {
 public:
  explicit FfiPayments(const Options& options) : options_(options) {
    if (options.payee || options.payer) {
      parse_hex(options.chain.escrow, escrow_, "escrow");
      parse_hex(options.chain.token, token_, "token");
    }
    if (options.payee) {
      payee_.chain_id = options.chain.chain_id;
      std::memcpy(payee_.escrow, escrow_, 20);
      std::memcpy(payee_.token, token_, 20);
      parse_hex(options.payee->key_hex, payee_.secret_key, "payee key");
      payee_.min_price = parse_amount(options.payee->price, "price");
      payee_.credit_pieces = options.payee->credit_pieces;
      // Validate once, up front, so a bad configuration fails at construction rather than per peer.
      PiecepayPayee* probe = nullptr;
      if (piecepay_payee_new(&payee_, &probe) != PIECEPAY_STATUS_OK) throw std::invalid_argument(last_error());
      piecepay_payee_free(probe);
    }
    if (options.payer) {
      payer_.chain_id = options.chain.chain_id;
      std::memcpy(payer_.escrow, escrow_, 20);
      std::memcpy(payer_.token, token_, 20);
      parse_hex(options.payer->key_hex, payer_.secret_key, "payer key");
      payer_.max_price = parse_amount(options.payer->max_price, "max price");
      payer_.bid_step = payer_.max_price;
      deposit_ = parse_amount(options.payer->deposit, "deposit");
      payer_.budget = deposit_;  // one channel per handle: it never spends more than its deposit
      payer_.auth_ttl = 3600;
      // Salts must not repeat for one (payer, payee): start from the clock, count up per connection.
      next_salt_ = static_cast<std::uint32_t>(unix_now());
      PiecepayPayer* probe = nullptr;
      payer_.salt = next_salt_;
      if (piecepay_payer_new(&payer_, &probe) != PIECEPAY_STATUS_OK) throw std::invalid_argument(last_error());
      piecepay_payer_free(probe);
    }
  }

  std::unique_ptr<PayeePeer> payee_peer(Counters& counters) override {
    if (!options_.payee) return nullptr;
    return std::make_unique<FfiPayee>(payee_, options_.payee->trust_claimed_deposit, options_, book_, counters,
                                      worker_);
  }

  std::unique_ptr<PayerPeer> payer_peer(Counters& counters) override {
    if (!options_.payer) return nullptr;
    PiecepayPayerConfig config = payer_;
    config.salt = next_salt_++;
    return std::make_unique<FfiPayer>(config, deposit_, options_.payer->default_after_pieces, counters, worker_);
  }

  std::vector<ReceiptRecord> latest_receipts() const override { return book_.all(); }

 private:
  const Options& options_;
  std::uint8_t escrow_[20]{};
  std::uint8_t token_[20]{};
  PiecepayPayeeConfig payee_{};
  PiecepayPayerConfig payer_{};
  PiecepayAmount deposit_{};
  std::uint32_t next_salt_ = 0;
  ReceiptBook book_;
  // Last: destroyed first, so queued jobs finish while the book they write to still exists.
  Worker worker_;
};

}  // namespace

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
