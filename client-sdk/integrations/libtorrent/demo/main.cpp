// piecepay-torrent: the loopback demo and the throughput bench of the libtorrent integration.
//
//   piecepay-torrent demo  [--seeder-keys K1,K2,...] [--leecher-keys K1,K2,... | --leechers N]
//                          [--chain-id N --escrow 0x... [--token 0x...]] [--salt-base S --deposit D]
//                          [--price P] [--credit-pieces C] [--free-pieces F]
//                          [--size-mib M | --size-kib K] [--piece-kib K] [--timeout-s T]
//                          [--receipts FILE] [--stats FILE] [--dir DIR]
//       seeders (payees, one session per key) and leechers (payers, each connected to every seeder)
//       transfer a generated torrent; progress and counters on stderr, every seeder's latest receipt per
//       channel as JSON lines (stdout, or FILE), the per-pair books as one JSON line in --stats FILE.
//       With --salt-base and --deposit, leecher i's channel to seeder j is salt S+j with deposit D, opened
//       on chain by the caller: payers adopt it, payees serve on it. Without them: the chainless test mode
//       (payers sign opens nobody submits, payees trust the deposit claimed). Exit status: 0 when every
//       leecher completed and every piece was paid and acknowledged, 1 otherwise, 2 on a usage error.
//   piecepay-torrent bench|bench-agent …: see bench.cpp.
#include <libtorrent/torrent_status.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.hpp"
#include "bench.hpp"
#include "client.hpp"
#include "paid_swarm.hpp"
#include "peer.hpp"
#include "piecepay_torrent/attach.hpp"
#include "swarm.hpp"

namespace lt = libtorrent;
namespace fs = std::filesystem;
using namespace piecepay::torrent;
using namespace piecepay::torrent::cli;
using namespace std::chrono_literals;

namespace {

fs::path work_dir(const Args& a) {
  return fs::path(a.str("dir", (fs::temp_directory_path() / "piecepay-torrent").string()));
}

const std::set<std::string> kDemoOptions = {"leechers",      "size-mib", "size-kib",    "piece-kib",    "free-pieces",
                                            "credit-pieces", "receipts", "stats",       "dir",          "chain-id",
                                            "escrow",        "token",    "seeder-keys", "leecher-keys", "salt-base",
                                            "deposit",       "price",    "timeout-s"};

swarm::PaidSwarmConfig demo_config(const Args& a) {
  swarm::PaidSwarmConfig c;
  c.progress = true;
  bool const real_domain = a.has("escrow");
  if (a.has("chain-id") && !real_domain) throw UsageError("--chain-id goes with --escrow");
  if (a.has("token") && !real_domain) throw UsageError("--token goes with --escrow");
  c.chain.chain_id = a.num("chain-id", swarm::TestKeys::kChainId);
  c.chain.escrow = address_arg(a, "escrow", swarm::TestKeys::kEscrow);
  // The token only has to match between the two sides' terms; the escrow names it on chain.
  c.chain.token =
      address_arg(a, "token", real_domain ? "0x0000000000000000000000000000000000000000" : swarm::TestKeys::kToken);
  c.seeder_keys = a.list("seeder-keys");
  if (c.seeder_keys.empty()) c.seeder_keys.push_back(swarm::TestKeys::kPayeeKey);
  c.leecher_keys = a.list("leecher-keys");
  if (c.leecher_keys.empty()) {
    auto const n = a.num("leechers", 3, 8);  // 8 fixed test payers
    if (n == 0) throw UsageError("--leechers must be at least 1");
    for (std::uint64_t i = 0; i < n; ++i) c.leecher_keys.push_back(swarm::TestKeys::payer_key(static_cast<int>(i)));
  } else if (a.has("leechers") && a.num("leechers", 0) != c.leecher_keys.size()) {
    throw UsageError("--leechers disagrees with the number of --leecher-keys");
  }
  c.price = a.amount("price", "1000");
  if (c.price == "0") throw UsageError("--price must not be 0");
  if (a.has("salt-base") != a.has("deposit")) throw UsageError("--salt-base and --deposit go together");
  if (a.has("salt-base")) {
    std::uint64_t const base = a.num("salt-base", 0, UINT32_MAX);
    if (base + c.seeder_keys.size() - 1 > UINT32_MAX) throw UsageError("--salt-base + seeders exceeds 2^32 - 1");
    c.funded = swarm::CallerFunded{static_cast<std::uint32_t>(base), a.amount("deposit", "0")};
  }
  c.credit_pieces = static_cast<std::uint32_t>(a.num("credit-pieces", 64, UINT32_MAX));
  if (c.credit_pieces == 0) throw UsageError("--credit-pieces must be at least 1");
  c.free_pieces = static_cast<std::uint32_t>(a.num("free-pieces", 0, UINT32_MAX));
  c.timeout = std::chrono::seconds(a.num("timeout-s", 120, 86400));
  // Keys are checked here (through the C ABI) so that a bad one is a usage error, not a failed run.
  for (auto const* keys : {&c.seeder_keys, &c.leecher_keys}) {
    for (auto const& k : *keys) {
      try {
        address_of(k);
      } catch (std::invalid_argument const& e) {
        throw UsageError(std::string("bad key: ") + e.what());
      }
    }
  }
  return c;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream file;
  if (path != "-") {
    file.open(path, std::ios::trunc);
    if (!file) throw std::runtime_error("cannot write " + path);
  }
  std::ostream& os = path == "-" ? std::cout : file;
  for (auto const& l : lines) os << l << "\n";
  os.flush();
  if (!os) throw std::runtime_error("cannot write " + path);
}

int demo(const Args& a) {
  swarm::PaidSwarmConfig const config = demo_config(a);
  fs::path const dir = work_dir(a);
  std::int64_t const size = a.has("size-kib")
                                ? static_cast<std::int64_t>(a.num("size-kib", 0, 1u << 30)) * 1024
                                : static_cast<std::int64_t>(a.num("size-mib", 32, 1u << 20)) * 1024 * 1024;
  auto const piece_kib = a.num("piece-kib", 256, 1u << 16);
  if (size <= 0) throw UsageError("the torrent needs a size above 0");
  if (piece_kib < 16 || (piece_kib & (piece_kib - 1)) != 0)
    throw UsageError("--piece-kib must be a power of two >= 16");
  auto const piece = static_cast<int>(piece_kib * 1024);
  auto fx = swarm::make_fixture(dir / "seed", "demo.bin", size, piece, 0x5eed);
  std::fprintf(stderr,
               "demo: %s, %d pieces of %d KiB, %zu seeders (payees), %zu leechers (payers), price %s, chain %llu "
               "escrow %s, %s, 127.0.0.1 only\n",
               fx.name.c_str(), fx.info->num_pieces(), piece / 1024, config.seeder_keys.size(),
               config.leecher_keys.size(), config.price.c_str(), (unsigned long long)config.chain.chain_id,
               config.chain.escrow.c_str(),
               config.funded ? ("caller-funded channels, salts from " + std::to_string(config.funded->salt_base) +
                                ", deposit " + config.funded->deposit)
                                   .c_str()
                             : "chainless test mode (payees trust claimed deposits)");
  swarm::SwarmReport const report = swarm::run_paid_swarm(fx, dir, config);
  double const mib =
      static_cast<double>(report.total_bytes) * static_cast<double>(config.leecher_keys.size()) / (1024.0 * 1024.0);
  for (auto const& p : report.pairs)
    std::fprintf(stderr, "pair: leecher%d -> seeder%d delivered=%llu served=%llu signed=%llu accepted=%llu paid=%s\n",
                 p.leecher, p.seeder, (unsigned long long)p.pieces_delivered, (unsigned long long)p.pieces_served,
                 (unsigned long long)p.receipts_signed, (unsigned long long)p.receipts_accepted,
                 p.paid_accepted.c_str());
  if (report.ok())
    std::fprintf(stderr, "demo: done in %.2f s, %.1f MiB/s over all leechers, %zu channels paid\n", report.seconds,
                 mib / report.seconds, report.receipts.size());
  else
    std::fprintf(stderr, "demo: FAILED after %.2f s, %zu channels paid\n", report.seconds, report.receipts.size());
  for (auto const& problem : report.problems) std::fprintf(stderr, "demo: problem: %s\n", problem.c_str());
  std::vector<std::string> lines;
  for (auto const& r : report.receipts) lines.push_back(r.to_json());
  write_lines(a.str("receipts", "-"), lines);
  if (a.has("stats")) write_lines(a.str("stats", ""), {report.to_json()});
  return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string const cmd = argc > 1 ? argv[1] : "";
    if (cmd == "demo") return demo(parse(argc, argv, 2, kDemoOptions));
    if (cmd == "bench") return bench(parse(argc, argv, 2, kBenchOptions));
    if (cmd == "bench-agent") return bench_agent(parse(argc, argv, 2, kBenchAgentOptions));
    if (cmd == "seed") return seed(parse(argc, argv, 2, kSeedOptions));
    if (cmd == "leech") return leech(parse(argc, argv, 2, kLeechOptions));
    if (cmd == "serve") return serve(parse(argc, argv, 2, kServeOptions));
    if (cmd == "download") return download(parse(argc, argv, 2, kDownloadOptions));
    if (cmd == "balance") return balance(parse(argc, argv, 2, kBalanceOptions));
    if (cmd == "withdraw") return withdraw(parse(argc, argv, 2, kWithdrawOptions));
    if (cmd == "close") return cli::close(parse(argc, argv, 2, kCloseOptions));
    std::fprintf(stderr,
                 "usage: piecepay-torrent demo|bench|bench-agent|seed|leech|serve|download|balance|withdraw|close "
                 "[--option value]... "
                 "(see the top of "
                 "demo/main.cpp, demo/bench.cpp, demo/peer.cpp and demo/client.cpp)\n");
    return 2;
  } catch (UsageError const& e) {
    std::fprintf(stderr, "piecepay-torrent: usage error: %s\n", e.what());
    return 2;
  } catch (piecepay::torrent::AttachError const& e) {
    std::fprintf(stderr, "piecepay-torrent: %s\n", e.what());  // already "error[code]: …"
    return 1;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "piecepay-torrent: error: %s\n", e.what());
    return 1;
  }
}
