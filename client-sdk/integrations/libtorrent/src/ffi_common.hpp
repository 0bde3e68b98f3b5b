// What the C ABI code shares: hex and amount conversions, owners of what the C ABI hands out (handles,
// bytes, an outcome's reply) that free it exactly once, the worker thread that signs and verifies off
// libtorrent's network thread, and an outbox of payloads to send.
#pragma once

#include <piecepay.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace piecepay::torrent::ffi {

// Token amounts are up to 96 bits: the compiler's 128-bit integer carries them (a GCC/Clang extension).
__extension__ typedef unsigned __int128 u128;

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <std::size_t N>
inline void parse_hex(const std::string& text, std::uint8_t (&out)[N], const char* what) {
  std::string_view s = text;
  if (s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0) s.remove_prefix(2);
  if (s.size() != 2 * N)
    throw std::invalid_argument(std::string("invalid_argument: ") + what + " needs " + std::to_string(N) +
                                " hex bytes");
  for (std::size_t i = 0; i < N; ++i) {
    int const hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) throw std::invalid_argument(std::string("invalid_argument: ") + what + " is not hex");
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
}

inline std::string to_hex(const std::uint8_t* data, std::size_t n) {
  static const char* const digits = "0123456789abcdef";
  std::string s = "0x";
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[data[i] >> 4];
    s += digits[data[i] & 15];
  }
  return s;
}

inline PiecepayAmount parse_amount(const std::string& text, const char* what) {
  u128 v = 0;
  if (text.empty()) throw std::invalid_argument(std::string("invalid_argument: ") + what + " is empty");
  for (char c : text) {
    if (c < '0' || c > '9')
      throw std::invalid_argument(std::string("invalid_argument: ") + what + " is not a decimal amount");
    u128 const next = v * 10 + static_cast<unsigned>(c - '0');
    if (next / 10 != v) throw std::invalid_argument(std::string("invalid_argument: ") + what + " overflows");
    v = next;
  }
  return PiecepayAmount{static_cast<std::uint64_t>(v), static_cast<std::uint64_t>(v >> 64)};
}

inline u128 as_u128(PiecepayAmount a) { return (static_cast<u128>(a.hi) << 64) | a.lo; }

inline std::string amount_text(PiecepayAmount a) {
  u128 v = (static_cast<u128>(a.hi) << 64) | a.lo;
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

inline std::string last_error() {
  const char* code = piecepay_last_error_code();
  const char* msg = piecepay_last_error_message();
  return std::string(code ? code : "unknown") + ": " + (msg ? msg : "");
}

/// A payee session handle, freed by its owner (`piecepay_payee_free`).
struct PayeeFree {
  void operator()(PiecepayPayee* p) const noexcept { piecepay_payee_free(p); }
};
using PayeeHandle = std::unique_ptr<PiecepayPayee, PayeeFree>;

/// A payer session handle, freed by its owner (`piecepay_payer_free`).
struct PayerFree {
  void operator()(PiecepayPayer* p) const noexcept { piecepay_payer_free(p); }
};
using PayerHandle = std::unique_ptr<PiecepayPayer, PayerFree>;

/// A new payee session; throws std::invalid_argument (the C ABI's code and message) on a bad config.
inline PayeeHandle new_payee(const PiecepayPayeeConfig& config) {
  PiecepayPayee* raw = nullptr;
  if (piecepay_payee_new(&config, &raw) != PIECEPAY_STATUS_OK) throw std::invalid_argument(last_error());
  return PayeeHandle(raw);
}

/// A new payer session; throws std::invalid_argument (the C ABI's code and message) on a bad config.
inline PayerHandle new_payer(const PiecepayPayerConfig& config) {
  PiecepayPayer* raw = nullptr;
  if (piecepay_payer_new(&config, &raw) != PIECEPAY_STATUS_OK) throw std::invalid_argument(last_error());
  return PayerHandle(raw);
}

/// Bytes the C ABI returned (`piecepay_*_terms`, ...), freed once.
struct Bytes {
  PiecepayBytes raw{};
  Bytes() = default;
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;
  ~Bytes() { piecepay_bytes_free(raw); }
  std::string str() const { return std::string(reinterpret_cast<const char*>(raw.data), raw.len); }
};

/// An outcome whose reply bytes are always freed.
struct Outcome {
  PiecepayOutcome raw{};
  Outcome() = default;
  Outcome(const Outcome&) = delete;
  Outcome& operator=(const Outcome&) = delete;
  ~Outcome() { piecepay_bytes_free(raw.reply); }
  std::string reply() const { return std::string(reinterpret_cast<const char*>(raw.reply.data), raw.reply.len); }
  bool has(std::uint32_t action) const { return (raw.actions & action) != 0; }
};

/// One thread that signs (~24 µs per piece, payer) and verifies held receipts (~45 µs when due, payee),
/// so secp256k1 work runs beside libtorrent's network thread instead of on it. Jobs run in order (receipts stay
/// increasing); the destructor runs what is queued, then joins.
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
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

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

/// Payloads waiting to be sent, filled by whoever holds `mutex` (the network thread or the worker) and
/// drained by the network thread, which checks the flag without locking first.
struct Outbox {
  std::mutex mutex;
  std::vector<std::string> out;
  std::atomic<bool> has_out{false};

  /// Queues an outcome's reply, if any. Called with `mutex` held.
  void push(const Outcome& o) {
    if (o.raw.reply.len == 0) return;
    out.push_back(o.reply());
    has_out.store(true, std::memory_order_release);
  }
  /// Queues raw bytes. Called with `mutex` held.
  void push(std::string bytes) {
    out.push_back(std::move(bytes));
    has_out.store(true, std::memory_order_release);
  }
  /// Everything queued, in order.
  std::vector<std::string> take() {
    if (!has_out.load(std::memory_order_acquire)) return {};
    std::lock_guard<std::mutex> lock(mutex);
    has_out.store(false, std::memory_order_relaxed);
    return std::exchange(out, {});
  }
};

}  // namespace piecepay::torrent::ffi
