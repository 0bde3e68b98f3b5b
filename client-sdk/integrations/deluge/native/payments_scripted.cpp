// TESTS ONLY: payments that follow a script instead of an agent, so that everything between the agent and
// the user — the module's conversions, the GIL released around blocking calls, the Python lifecycle
// (start in a thread, stop joining threads, restart on a settings change), Deluge's status API, the RPC
// methods and their errors, the console — is exercised with values that are not zero before the agent
// exists. Built into a separate egg under build/test/ (never `make deluge-plugin`'s) and never shipped.
//
// The script is <directory of the agent's config>/scripted.json, re-read at every call:
//   {"start_error": ["code", "message"],          start fails with this (else it starts)
//    "totals": {"<torrent id>": {"spent": "…", "earned": "…", "pending": "…", "peers_paying": N, "peers_paid": N}},
//    "wallet": {"address": "0x…", "token_balance": "…", "free": "…", "locked": "…"},
//    "withdraw_error": ["code", "message"], "closed": N}
// While started it runs one thread named "piecepay-script" (what a disable must leave behind: nothing),
// and it records its starts and stops in scripted.log.
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <pthread.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include "error.hpp"
#include "payments.hpp"

namespace piecepay::deluge {
namespace {

namespace pt = boost::property_tree;

class Scripted final : public Payments {
 public:
  Scripted(std::string dir, std::string password) : dir_(std::move(dir)), password_(std::move(password)) {
    record("start");
    std::promise<void> named;
    thread_ = std::thread([this, &named] {
      pthread_setname_np(pthread_self(), "piecepay-script");
      named.set_value();
      std::unique_lock lock(mutex_);
      stopped_cv_.wait(lock, [this] { return stopping_; });
    });
    named.get_future().wait();  // started means visible under its name
  }
  ~Scripted() override { stop(); }

  static pt::ptree script(const std::string& dir) {
    pt::ptree tree;
    try {
      pt::read_json(dir + "/scripted.json", tree);
    } catch (const pt::json_parser_error&) {
    }
    return tree;
  }

  static void fail_if(const pt::ptree& tree, const std::string& key) {
    if (auto e = tree.get_child_optional(key)) {
      auto it = e->begin();
      const std::string code = it->second.data();
      const std::string message = (++it)->second.data();
      throw Error(code, message);
    }
  }

  std::map<std::string, TorrentTotals> totals() override {
    std::map<std::string, TorrentTotals> out;
    const auto tree = script(dir_);
    if (auto all = tree.get_child_optional("totals")) {
      for (const auto& [id, t] : *all) {
        out[id] = {t.get<std::string>("spent", "0"), t.get<std::string>("earned", "0"),
                   t.get<std::string>("pending", "0"), t.get<std::uint32_t>("peers_paying", 0),
                   t.get<std::uint32_t>("peers_paid", 0)};
      }
    }
    return out;
  }

  Wallet wallet() override {
    const auto w = script(dir_).get_child("wallet", pt::ptree());
    return {w.get<std::string>("address", ""), w.get<std::string>("token_balance", "0"),
            w.get<std::string>("free", "0"), w.get<std::string>("locked", "0")};
  }

  std::string withdraw(const std::string& amount) override {
    fail_if(script(dir_), "withdraw_error");
    return amount == "all" ? script(dir_).get<std::string>("wallet.free", "0") : amount;
  }

  std::uint32_t close_all() override { return script(dir_).get<std::uint32_t>("closed", 0); }

  // No agent, so no events: the agent's reach the log through the real egg's tests (test_paid.py).
  std::vector<std::string> events() override { return {}; }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    stopped_cv_.notify_all();
    thread_.join();
    record("stop");
  }

 private:
  void record(const char* what) {
    std::ofstream(dir_ + "/scripted.log", std::ios::app) << what << " password=" << password_.size() << "\n";
  }

  std::string dir_;
  std::string password_;
  std::mutex mutex_;
  std::condition_variable stopped_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Payments> start_payments(lt::session&, const std::string& config_path, const std::string& password) {
  const std::string dir = config_path.substr(0, config_path.rfind('/'));
  Scripted::fail_if(Scripted::script(dir), "start_error");
  return std::make_unique<Scripted>(dir, password);
}

std::string payments_backend() { return "scripted (tests only)"; }

}  // namespace piecepay::deluge
