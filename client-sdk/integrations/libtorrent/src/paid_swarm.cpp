#include "paid_swarm.hpp"

#include <libtorrent/torrent_status.hpp>

#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>

namespace lt = libtorrent;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace piecepay::torrent::swarm {
namespace {

__extension__ typedef unsigned __int128 u128;

// Amounts here are what the plugin printed (canonical decimal, < 2^96): only products need arithmetic.
u128 parse_decimal(const std::string& text, const char* what) {
  if (text.empty() || text.size() > 38) throw std::invalid_argument(std::string("invalid_argument: ") + what);
  u128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw std::invalid_argument(std::string("invalid_argument: ") + what + " is not decimal");
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void print_counters(const std::string& who, const Counters& c) {
  std::fprintf(stderr,
               "%s: peers=%llu with_extension=%llu served_paid=%llu served_free=%llu swallowed=%llu chokes=%llu "
               "receipts_accepted=%llu receipts_rejected=%llu pieces_paid=%llu pieces_unpaid=%llu "
               "protocol_errors=%llu\n",
               who.c_str(), (unsigned long long)c.peers.load(), (unsigned long long)c.peers_with_extension.load(),
               (unsigned long long)c.pieces_served_paid.load(), (unsigned long long)c.pieces_served_free.load(),
               (unsigned long long)c.requests_swallowed.load(), (unsigned long long)c.chokes.load(),
               (unsigned long long)c.receipts_accepted.load(), (unsigned long long)c.receipts_rejected.load(),
               (unsigned long long)c.pieces_paid.load(), (unsigned long long)c.pieces_unpaid.load(),
               (unsigned long long)c.protocol_errors.load());
}

/// Both sides' books, pair by pair.
std::vector<PairReport> collect_pairs(const std::vector<Node>& seeders, const std::vector<Node>& leechers,
                                      const std::vector<std::string>& seeder_addr,
                                      const std::vector<std::string>& leecher_addr,
                                      const std::optional<CallerFunded>& funded) {
  std::vector<PairReport> pairs;
  std::vector<std::vector<ChannelStats>> seeder_books;
  for (auto const& s : seeders) seeder_books.push_back(s.extension->channels());
  for (std::size_t i = 0; i < leechers.size(); ++i) {
    std::vector<ChannelStats> const mine = leechers[i].extension->channels();
    for (std::size_t j = 0; j < seeders.size(); ++j) {
      PairReport p;
      p.leecher = static_cast<int>(i);
      p.seeder = static_cast<int>(j);
      p.payer = leecher_addr[i];
      p.payee = seeder_addr[j];
      if (funded) p.salt = funded->salt_base + static_cast<std::uint32_t>(j);
      for (auto const& c : mine) {
        if (c.payee != p.payee) continue;
        p.channel_id = c.channel_id;
        p.salt = c.salt;
        p.pieces_delivered = c.pieces;
        p.receipts_signed = c.receipts;
        p.paid_signed = c.cumulative;
      }
      for (auto const& c : seeder_books[j]) {
        if (c.payer != p.payer || (!p.channel_id.empty() && c.channel_id != p.channel_id)) continue;
        p.channel_id = c.channel_id;
        p.salt = c.salt;
        p.pieces_served = c.pieces;
        p.receipts_accepted = c.receipts;
        p.paid_accepted = c.cumulative;
      }
      pairs.push_back(std::move(p));
    }
  }
  return pairs;
}

/// Every receipt signed has reached its payee and every piece owed is signed.
bool settled(const std::vector<PairReport>& pairs) {
  for (auto const& p : pairs)
    if (p.paid_accepted != p.paid_signed || p.receipts_signed != p.pieces_delivered) return false;
  return true;
}

}  // namespace

SwarmReport run_paid_swarm(const Fixture& fx, const fs::path& dir, const PaidSwarmConfig& config) {
  if (config.seeder_keys.empty() || config.leecher_keys.empty())
    throw std::invalid_argument("invalid_argument: a paid swarm needs seeders and leechers");
  u128 const price = parse_decimal(config.price, "price");
  if (config.funded) parse_decimal(config.funded->deposit, "deposit");

  SwarmReport report;
  report.pieces = fx.info->num_pieces();
  report.piece_bytes = fx.info->piece_length();
  report.total_bytes = fx.info->total_size();
  report.price = config.price;
  for (auto const& k : config.seeder_keys) report.seeders.push_back(address_of(k));
  for (auto const& k : config.leecher_keys) report.leechers.push_back(address_of(k));

  std::vector<Node> seeders;
  for (std::size_t j = 0; j < config.seeder_keys.size(); ++j) {
    Options o;
    o.chain = config.chain;
    PayeeOptions payee;
    payee.key_hex = config.seeder_keys[j];
    payee.price = config.price;
    payee.credit_pieces = config.credit_pieces;
    if (config.funded) {
      for (auto const& payer : report.leechers)
        payee.verified_channels.push_back(
            KnownChannel{payer, config.funded->salt_base + static_cast<std::uint32_t>(j), config.funded->deposit});
    } else {
      payee.trust_claimed_deposit = true;
    }
    o.payee = payee;
    o.free_pieces = config.free_pieces;
    // No peer exchange: leechers must not learn of each other and trade pieces for free.
    seeders.push_back(make_seeder(fx, o, true, false));
    seeders.back().name = "seeder" + std::to_string(j);
  }
  std::vector<Node> leechers;
  for (std::size_t i = 0; i < config.leecher_keys.size(); ++i) {
    Options o;
    o.chain = config.chain;
    PayerOptions payer;
    payer.key_hex = config.leecher_keys[i];
    payer.max_price = config.price;
    if (config.funded) {
      payer.deposit = config.funded->deposit;
      for (std::size_t j = 0; j < report.seeders.size(); ++j)
        payer.open_channels.push_back(KnownChannel{
            report.seeders[j], config.funded->salt_base + static_cast<std::uint32_t>(j), config.funded->deposit});
    }
    o.payer = payer;
    std::string const name = "leecher" + std::to_string(i);
    fs::path const save = dir / name;
    fs::remove_all(save);
    leechers.push_back(make_leecher(name, fx, save, o, false));
  }

  auto const start = std::chrono::steady_clock::now();
  for (auto& l : leechers)
    for (auto& s : seeders) l.torrent.connect_peer(s.endpoint());
  report.completed.assign(leechers.size(), false);
  auto last_report = start;
  for (;;) {
    bool all = true;
    for (std::size_t i = 0; i < leechers.size(); ++i) {
      if (!report.completed[i]) report.completed[i] = wait_finished(leechers[i], 2ms);
      all = all && report.completed[i];
    }
    auto const now = std::chrono::steady_clock::now();
    if (all || now - start > config.timeout) break;
    if (config.progress && now - last_report > 500ms) {
      last_report = now;
      std::uint64_t receipts = 0;
      for (auto& s : seeders) receipts += s.extension->counters().receipts_accepted.load();
      std::string line = "progress:";
      for (auto& l : leechers) {
        auto const st = l.torrent.status(lt::torrent_handle::status_flags_t{});
        line += " " + l.name + " " + std::to_string(st.num_pieces) + "/" + std::to_string(report.pieces);
      }
      std::fprintf(stderr, "%s receipts=%llu\n", line.c_str(), (unsigned long long)receipts);
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The last receipts leave after the last hash checks, with the next block or tick (≤ 1 s): wait for
  // both sides' books to agree.
  std::vector<PairReport> pairs;
  wait_until(
      [&] {
        pairs = collect_pairs(seeders, leechers, report.seeders, report.leechers, config.funded);
        return settled(pairs);
      },
      10s, 20ms);
  report.pairs = collect_pairs(seeders, leechers, report.seeders, report.leechers, config.funded);
  for (auto& s : seeders)
    for (auto& r : s.extension->latest_receipts()) report.receipts.push_back(std::move(r));

  for (std::size_t i = 0; i < leechers.size(); ++i) {
    Counters const& c = leechers[i].extension->counters();
    report.unpaid.push_back(c.pieces_unpaid.load());
    if (!report.completed[i]) report.problems.push_back(leechers[i].name + " did not complete");
    std::uint64_t owed = 0;
    for (auto const& p : report.pairs)
      if (p.leecher == static_cast<int>(i)) owed += p.pieces_delivered;
    // With no free share every piece has to come from, and be paid to, a seeder.
    if (config.free_pieces == 0 && report.completed[i] && owed != static_cast<std::uint64_t>(report.pieces))
      report.problems.push_back(leechers[i].name + " owed seeders for " + std::to_string(owed) + " of " +
                                std::to_string(report.pieces) + " pieces (" + std::to_string(c.pieces_unpaid.load()) +
                                " unpaid)");
    if (c.protocol_errors.load() != 0)
      report.problems.push_back(leechers[i].name + ": " + std::to_string(c.protocol_errors.load()) +
                                " protocol errors");
  }
  for (auto const& p : report.pairs) {
    std::string const who = "leecher" + std::to_string(p.leecher) + " -> seeder" + std::to_string(p.seeder);
    if (p.receipts_signed != p.pieces_delivered)
      report.problems.push_back(who + ": paid " + std::to_string(p.receipts_signed) + " of " +
                                std::to_string(p.pieces_delivered) + " pieces owed");
    if (p.paid_accepted != p.paid_signed)
      report.problems.push_back(who + ": seeder holds " + p.paid_accepted + ", leecher signed " + p.paid_signed);
    if (parse_decimal(p.paid_signed, "cumulative") != price * p.receipts_signed)
      report.problems.push_back(who + ": " + std::to_string(p.receipts_signed) + " receipts for " + p.paid_signed);
  }
  for (auto const& s : seeders) {
    Counters const& c = s.extension->counters();
    if (c.receipts_rejected.load() != 0)
      report.problems.push_back(s.name + ": " + std::to_string(c.receipts_rejected.load()) + " receipts rejected");
    if (c.protocol_errors.load() != 0)
      report.problems.push_back(s.name + ": " + std::to_string(c.protocol_errors.load()) + " protocol errors");
  }
  if (config.progress) {
    for (auto const& s : seeders) print_counters(s.name, s.extension->counters());
    for (auto const& l : leechers) print_counters(l.name, l.extension->counters());
  }
  for (auto const& l : leechers) fs::remove_all(dir / l.name);
  return report;
}

std::string SwarmReport::to_json() const {
  std::ostringstream o;
  o << R"({"ok":)" << (ok() ? "true" : "false") << R"(,"pieces":)" << pieces << R"(,"piece_bytes":)" << piece_bytes
    << R"(,"total_bytes":)" << total_bytes << R"(,"price":")" << price << R"(","seconds":)" << seconds;
  o << R"(,"seeders":[)";
  for (std::size_t j = 0; j < seeders.size(); ++j) {
    std::uint64_t served = 0;
    for (auto const& p : pairs)
      if (p.seeder == static_cast<int>(j)) served += p.pieces_served;
    o << (j ? "," : "") << R"({"index":)" << j << R"(,"address":")" << seeders[j] << R"(","pieces_served":)" << served
      << "}";
  }
  o << R"(],"leechers":[)";
  for (std::size_t i = 0; i < leechers.size(); ++i) {
    o << (i ? "," : "") << R"({"index":)" << i << R"(,"address":")" << leechers[i] << R"(","completed":)"
      << (completed[i] ? "true" : "false") << R"(,"pieces_unpaid":)" << (i < unpaid.size() ? unpaid[i] : 0) << "}";
  }
  o << R"(],"pairs":[)";
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    auto const& p = pairs[k];
    o << (k ? "," : "") << R"({"leecher":)" << p.leecher << R"(,"seeder":)" << p.seeder << R"(,"payer":")" << p.payer
      << R"(","payee":")" << p.payee << R"(","channel_id":")" << p.channel_id << R"(","salt":)" << p.salt
      << R"(,"pieces_delivered":)" << p.pieces_delivered << R"(,"pieces_served":)" << p.pieces_served
      << R"(,"receipts_signed":)" << p.receipts_signed << R"(,"receipts_accepted":)" << p.receipts_accepted
      << R"(,"paid_signed":")" << p.paid_signed << R"(","paid_accepted":")" << p.paid_accepted << R"("})";
  }
  o << R"(],"problems":[)";
  for (std::size_t k = 0; k < problems.size(); ++k) o << (k ? "," : "") << json_string(problems[k]);
  o << "]}";
  return o.str();
}

}  // namespace piecepay::torrent::swarm
