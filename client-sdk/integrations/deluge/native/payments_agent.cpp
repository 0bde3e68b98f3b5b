// This build's payments: the client agent (docs/agent.md) attached to Deluge's own session by the
// libtorrent integration's one call, `piecepay::torrent::attach`. Everything the plugin shows comes from
// the agent's report (docs/agent.md, "Reports and events"); the only thing added here is which of the
// agent's channels belong to which torrent, read from the session's connections (the report names the
// connections of every channel by the label the integration gave them, "address:port").
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <set>
#include <sstream>

#include <libtorrent/peer_info.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_handle.hpp>

#include "error.hpp"
#include "payments.hpp"
#include "piecepay_torrent/attach.hpp"

namespace piecepay::deluge {
namespace {

namespace pt = boost::property_tree;
using piecepay::torrent::AttachError;

// The integration's message is "error[code]: message"; the plugin adds the code itself.
Error error_of(const AttachError& e) {
  std::string message = e.what();
  const std::string prefix = "error[" + e.code + "]: ";
  if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
  return Error(e.code, message);
}

// A list of the report (an empty one when absent; never a reference to a temporary default).
const pt::ptree& list(const pt::ptree& tree, const std::string& key) {
  static const pt::ptree none;
  const auto child = tree.get_child_optional(key);
  return child ? *child : none;
}

// A balance the agent could not read (no RPC node) is `null` in the report: shown as unknown, not 0.
std::string amount(const pt::ptree& tree, const std::string& key) {
  const std::string value = tree.get<std::string>(key, "");
  return value == "null" ? "" : value;
}

// earned − settled, both decimal strings of up to 96 bits: long subtraction, no big-number library.
std::string minus(const std::string& a, const std::string& b) {
  std::string out;
  int borrow = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    int d = a[a.size() - 1 - i] - '0' - borrow - (i < b.size() ? b[b.size() - 1 - i] - '0' : 0);
    borrow = d < 0;
    out.insert(out.begin(), static_cast<char>('0' + (d + 10) % 10));
  }
  if (borrow || b.size() > a.size()) return "0";  // never below zero (settled ≤ earned by construction)
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

std::string hex(const lt::sha1_hash& hash) {
  std::ostringstream out;
  out << hash;
  return out.str();
}

class AgentPayments final : public Payments {
 public:
  AgentPayments(lt::session& session, std::unique_ptr<torrent::Attachment> attachment)
      : session_(session), attachment_(std::move(attachment)) {}

  std::map<std::string, TorrentTotals> totals() override {
    const pt::ptree report = read_report();
    std::map<std::string, TorrentTotals> out;
    for (const auto& [_, t] : list(report, "torrents")) {
      TorrentTotals& row = out[t.get<std::string>("info_hash")];
      row.spent = t.get<std::string>("spent");
      row.earned = t.get<std::string>("earned");
      row.pending = minus(row.earned, t.get<std::string>("settled"));
    }
    // Peers paying / paid: the counterparties (accounts) with an open channel and a connection on this
    // torrent now. A channel that is closing or closed carries no more payments, so it does not count,
    // and a peer that reopened after a close (its old channel closing, the new one open) counts once.
    for (const lt::torrent_handle& handle : session_.get_torrents()) {
      std::vector<lt::peer_info> peers;
      handle.get_peer_info(peers);
      std::set<std::string> here;
      for (const auto& p : peers) here.insert(p.ip.address().to_string() + ":" + std::to_string(p.ip.port()));
      std::set<std::string> paying, paid;
      for (const auto& [_, peer] : list(report, "peers")) {
        if (peer.get<std::string>("state") != "open") continue;
        bool connected = false;
        for (const auto& [__, c] : list(peer, "connections")) connected |= here.count(c.data()) > 0;
        if (!connected) continue;
        (peer.get<std::string>("role") == "payer" ? paid : paying).insert(peer.get<std::string>("peer"));
      }
      if (paying.empty() && paid.empty()) continue;
      TorrentTotals& row = out[hex(handle.info_hash())];
      row.peers_paying = static_cast<std::uint32_t>(paying.size());
      row.peers_paid = static_cast<std::uint32_t>(paid.size());
    }
    return out;
  }

  Wallet wallet() override {
    const pt::ptree report = read_report();
    Wallet w;
    w.address = report.get<std::string>("address");
    w.token_balance = amount(report, "wallet.tokens");
    w.free = amount(report, "wallet.withdrawable");
    w.locked = amount(report, "wallet.locked");
    return w;
  }

  std::string withdraw(const std::string& what) override {
    const std::string all = what == "all" ? amount(read_report(), "wallet.withdrawable") : what;
    if (all.empty()) throw Error("unavailable", "the escrow's free balance cannot be read (no RPC node)");
    if (all == "0") return "0";
    try {
      attachment_->withdraw("", all);
    } catch (const AttachError& e) {
      throw error_of(e);
    }
    return all;
  }

  std::uint32_t close_all() override {
    std::uint32_t open = 0;
    const pt::ptree report = read_report();
    for (const auto& [_, peer] : list(report, "peers"))
      open += peer.get<std::string>("role") == "payer" && peer.get<std::string>("state") != "closing" &&
              peer.get<std::string>("state") != "closed";
    try {
      attachment_->close_all();
    } catch (const AttachError& e) {
      throw error_of(e);
    }
    return open;
  }

  std::vector<std::string> events() override {
    std::vector<std::string> out;
    try {
      while (auto event = attachment_->next_event_json()) out.push_back(std::move(*event));
    } catch (const AttachError& e) {
      throw error_of(e);
    }
    return out;
  }

  void stop() override { attachment_->stop(); }

 private:
  pt::ptree read_report() const {
    std::string json;
    try {
      json = attachment_->report_json();
    } catch (const AttachError& e) {
      throw error_of(e);
    }
    std::istringstream in(json);
    pt::ptree tree;
    try {
      pt::read_json(in, tree);
    } catch (const pt::json_parser_error& e) {
      throw Error("internal", std::string("the agent's report is not JSON: ") + e.what());
    }
    return tree;
  }

  lt::session& session_;
  std::unique_ptr<torrent::Attachment> attachment_;
};

}  // namespace

std::unique_ptr<Payments> start_payments(lt::session& session, const std::string& config_path,
                                         const std::string& password) {
  try {
    return std::make_unique<AgentPayments>(session, torrent::attach(session, config_path, password.c_str()));
  } catch (const AttachError& e) {
    throw error_of(e);
  }
}

std::string payments_backend() { return "agent"; }

}  // namespace piecepay::deluge
