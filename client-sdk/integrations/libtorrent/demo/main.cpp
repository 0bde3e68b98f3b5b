// piecepay-torrent: the loopback demo and the throughput bench of the libtorrent integration.
//
//   piecepay-torrent demo  [--leechers N] [--size-mib M] [--piece-kib K] [--free-pieces F]
//                          [--receipts FILE] [--dir DIR]
//       one paying seeder (payee) and N paying leechers (payers) transfer a generated torrent; prints
//       progress, per-session counters, and the payee's latest receipts as JSON lines (stdout, or FILE).
//   piecepay-torrent bench [--size-mib M] [--piece-kib K] [--rounds R] [--leechers N] [--dir DIR]
//       the same transfer with payments on (plugin on both sides) and off (stock libtorrent), alternated
//       for R rounds; prints `torrent throughput_mib_s paid=A free=B ratio=R` (medians).
#include <libtorrent/torrent_status.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "swarm.hpp"

namespace lt = libtorrent;
namespace fs = std::filesystem;
using namespace piecepay::torrent;
using namespace std::chrono_literals;

namespace {

struct Args {
  std::map<std::string, std::string> kv;
  long num(const std::string& k, long dflt) const {
    auto it = kv.find(k);
    if (it == kv.end()) return dflt;
    char* end = nullptr;
    long const v = std::strtol(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != '\0' || v < 0) throw std::invalid_argument("--" + k + " wants a number");
    return v;
  }
  std::string str(const std::string& k, const std::string& dflt) const {
    auto it = kv.find(k);
    return it == kv.end() ? dflt : it->second;
  }
};

Args parse(int argc, char** argv, int from) {
  Args a;
  for (int i = from; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) throw std::invalid_argument("bad argument: " + k);
    a.kv[k.substr(2)] = argv[++i];
  }
  return a;
}

fs::path work_dir(const Args& a) {
  return fs::path(a.str("dir", (fs::temp_directory_path() / "piecepay-torrent").string()));
}

void print_counters(const char* who, const Counters& c) {
  std::fprintf(stderr,
               "%s: peers=%llu with_extension=%llu served_paid=%llu served_free=%llu swallowed=%llu chokes=%llu "
               "receipts_accepted=%llu receipts_rejected=%llu pieces_paid=%llu protocol_errors=%llu\n",
               who, (unsigned long long)c.peers.load(), (unsigned long long)c.peers_with_extension.load(),
               (unsigned long long)c.pieces_served_paid.load(), (unsigned long long)c.pieces_served_free.load(),
               (unsigned long long)c.requests_swallowed.load(), (unsigned long long)c.chokes.load(),
               (unsigned long long)c.receipts_accepted.load(), (unsigned long long)c.receipts_rejected.load(),
               (unsigned long long)c.pieces_paid.load(), (unsigned long long)c.protocol_errors.load());
}

/// One transfer: a fresh seeder and `leechers` fresh leechers; returns MiB/s over all leechers' bytes.
double transfer(const swarm::Fixture& fx, const fs::path& dir, int leechers, bool paid, bool progress,
                std::vector<ReceiptRecord>* receipts, std::uint32_t free_pieces) {
  std::optional<Options> seeder_opts;
  if (paid) seeder_opts = swarm::demo_payee_options(free_pieces);
  swarm::Node seeder = swarm::make_seeder(fx, seeder_opts);
  std::vector<swarm::Node> peers;
  for (int i = 0; i < leechers; ++i) {
    std::optional<Options> o;
    if (paid) o = swarm::demo_payer_options(i);
    fs::path const save = dir / ("leecher" + std::to_string(i));
    fs::remove_all(save);
    peers.push_back(swarm::make_leecher("leecher" + std::to_string(i), fx, save, o));
  }
  auto const start = std::chrono::steady_clock::now();
  for (auto& p : peers) p.torrent.connect_peer(seeder.endpoint());
  std::vector<bool> done(peers.size(), false);
  auto last_report = start;
  for (;;) {
    bool all = true;
    for (std::size_t i = 0; i < peers.size(); ++i) {
      if (!done[i]) done[i] = swarm::wait_finished(peers[i], 2ms);
      all = all && done[i];
    }
    if (all) break;
    auto const now = std::chrono::steady_clock::now();
    if (now - start > 120s) throw std::runtime_error("transfer did not finish within 120 s");
    if (progress && now - last_report > 500ms) {
      last_report = now;
      std::fprintf(stderr, "progress:");
      for (auto& p : peers) {
        auto const st = p.torrent.status(lt::torrent_handle::status_flags_t{});
        std::fprintf(stderr, " %s %.0f%%", p.name.c_str(), st.progress * 100.0);
      }
      if (seeder.extension) std::fprintf(stderr, " paid_pieces=%llu", (unsigned long long)seeder.extension->counters().receipts_accepted.load());
      std::fprintf(stderr, "\n");
    }
  }
  double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double const mib = static_cast<double>(fx.info->total_size()) * leechers / (1024.0 * 1024.0);
  if (paid && free_pieces == 0) {
    // A paid run that did not pay for every piece measured something else: refuse it.
    auto const want = static_cast<std::uint64_t>(fx.info->num_pieces()) * static_cast<std::uint64_t>(leechers);
    auto const& counters = seeder.extension->counters();
    // The last receipts leave after the last hash checks: give them a moment to arrive.
    swarm::wait_until([&] { return counters.receipts_accepted.load() >= want; }, 5s);
    auto const got = counters.receipts_accepted.load();
    if (got != want)
      throw std::runtime_error("paid run: " + std::to_string(got) + " receipts for " + std::to_string(want) + " pieces");
  }
  if (progress) {
    if (seeder.extension) print_counters("seeder", seeder.extension->counters());
    for (auto& p : peers)
      if (p.extension) print_counters(p.name.c_str(), p.extension->counters());
  }
  if (receipts && seeder.extension) *receipts = seeder.extension->latest_receipts();
  for (std::size_t i = 0; i < peers.size(); ++i) fs::remove_all(dir / ("leecher" + std::to_string(i)));
  return mib / secs;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t const n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int demo(const Args& a) {
  fs::path const dir = work_dir(a);
  auto const leechers = static_cast<int>(a.num("leechers", 3));
  std::int64_t const size = a.num("size-mib", 32) * 1024 * 1024;
  auto const piece = static_cast<int>(a.num("piece-kib", 256) * 1024);
  auto const free_pieces = static_cast<std::uint32_t>(a.num("free-pieces", 0));
  auto fx = swarm::make_fixture(dir / "seed", "demo.bin", size, piece, 0x5eed);
  std::fprintf(stderr, "demo: %s, %d pieces of %d KiB, 1 seeder (payee), %d leechers (payers), 127.0.0.1 only\n",
               fx.name.c_str(), fx.info->num_pieces(), piece / 1024, leechers);
  std::vector<ReceiptRecord> receipts;
  double const mibs = transfer(fx, dir, leechers, true, true, &receipts, free_pieces);
  std::fprintf(stderr, "demo: done, %.1f MiB/s over all leechers, %zu channels paid\n", mibs, receipts.size());
  std::string const out = a.str("receipts", "-");
  std::ofstream file;
  std::ostream& os = out == "-" ? std::cout : (file.open(out), file);
  for (auto const& r : receipts) os << r.to_json() << "\n";
  os.flush();
  return receipts.size() == static_cast<std::size_t>(leechers) ? 0 : 1;
}

int bench(const Args& a) {
  fs::path const dir = work_dir(a);
  std::int64_t const size = a.num("size-mib", 256) * 1024 * 1024;
  auto const piece = static_cast<int>(a.num("piece-kib", 256) * 1024);
  auto const rounds = static_cast<int>(a.num("rounds", 7));
  auto const leechers = static_cast<int>(a.num("leechers", 1));
  std::string const only = a.str("only", "");  // "paid" or "free": one side only (diagnostics)
  auto fx = swarm::make_fixture(dir / "seed", "bench.bin", size, piece, 0xbe9c);
  std::vector<double> paid, free;
  // Alternate, and flip the order every round, so drift in machine load hits both sides alike.
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      bool const is_paid = (k == 0) == (r % 2 == 0);
      if (!only.empty() && only != (is_paid ? "paid" : "free")) continue;
      double const v = transfer(fx, dir, leechers, is_paid, false, nullptr, 0);
      (is_paid ? paid : free).push_back(v);
      std::fprintf(stderr, "bench round %d %s: %.1f MiB/s\n", r + 1, is_paid ? "paid" : "free", v);
    }
  }
  if (paid.empty()) paid.push_back(0.0);
  if (free.empty()) free.push_back(0.0);
  double const p = median(paid), f = median(free);
  std::printf("torrent throughput_mib_s paid=%.1f free=%.1f ratio=%.3f\n", p, f, p / f);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string const cmd = argc > 1 ? argv[1] : "";
    Args const a = parse(argc, argv, 2);
    if (cmd == "demo") return demo(a);
    if (cmd == "bench") return bench(a);
    std::fprintf(stderr, "usage: piecepay-torrent demo|bench [--option value]...\n");
    return 2;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "piecepay-torrent: error: %s\n", e.what());
    return 1;
  }
}
