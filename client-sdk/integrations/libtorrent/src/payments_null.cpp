// Payments without the C ABI: a payee that never sees an open channel (every peer is on the free share)
// and a payer that never pays. Used until/unless the C ABI is linked (PIECEPAY_FFI=0).
#include <stdexcept>

#include "payments.hpp"

namespace piecepay::torrent {
namespace {

class FreePayee final : public PayeePeer {
 public:
  void start(std::uint64_t) override {}
  void on_message(std::string_view, std::uint64_t) override {}
  bool paying() const override { return false; }
  bool may_serve() const override { return false; }
  bool owed() const override { return false; }
  bool on_piece_served(std::uint64_t) override { return false; }
  void on_tick(std::uint64_t) override {}
  std::vector<std::string> take_outgoing() override { return {}; }
};

class NullPayments final : public Payments {
 public:
  explicit NullPayments(bool payee) : payee_(payee) {}
  std::unique_ptr<PayeePeer> payee_peer(Counters&) override { return payee_ ? std::make_unique<FreePayee>() : nullptr; }
  std::unique_ptr<PayerPeer> payer_peer(Counters&) override { return nullptr; }
  std::vector<ReceiptRecord> latest_receipts() const override { return {}; }
  std::vector<ChannelStats> channels() const override { return {}; }

 private:
  bool payee_;
};

}  // namespace

std::string address_of(const std::string&) {
  throw std::invalid_argument("unsupported: built without the C ABI (PIECEPAY_FFI=0)");
}

bool for_payee(std::string_view) { return true; }
const char* version_key() { return "piecepay_v"; }
std::int64_t protocol_version() { return 1; }
std::uint64_t negotiate_version(std::int64_t theirs) { return theirs >= 1 ? 1 : 0; }

std::unique_ptr<Payments> make_payments(const Options& options) {
  return std::make_unique<NullPayments>(options.payee.has_value());
}

}  // namespace piecepay::torrent
