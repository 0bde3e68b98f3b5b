// piecepay-torrent bench|bench-agent: what payments cost a libtorrent transfer, on loopback.
//
//   piecepay-torrent bench [--size-mib M] [--piece-kib K] [--rounds R] [--leechers N] [--dir DIR] [--only paid|free]
//       one seeder and N leechers with payments on (the caller-configured plugin on both sides, chainless
//       test keys) and off (stock libtorrent), alternated for R rounds; prints `torrent throughput_mib_s
//       paid=A free=B ratio=R` (medians), `torrent ratio_ci95 low=L high=H rounds=R` (bootstrap interval of
//       that ratio) and `torrent cpu_ms_per_transfer paid=A free=B ratio=R` (medians of the process's user +
//       system CPU time while a transfer runs: seeder and leechers share this process).
//   piecepay-torrent bench-agent --devnet BIN [--size-mib M] [--piece-kib K] [--rounds R] [--dir DIR]
//       the same with the client agent in the loop: BIN (piecepay-devnet) starts anvil with the contracts
//       deployed and two funded accounts (no relayer), stopped at the end; the seeder and the leecher each
//       attach an agent of their own (own key, own SQLite file) to their session, the leecher's agent opens
//       its channel on chain and pays every piece, the seeder's checks it on chain and stores the receipts.
//       Prints the same three lines prefixed `torrent agent`, and `torrent agent receipts_per_piece=X
//       receipts=N pieces=P` (receipts the buyer signed and sent over the pieces it paid, all timed rounds).
#include "bench.hpp"

#include <libtorrent/torrent_status.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_stats.hpp"
#include "lent_settings.hpp"
#include "piecepay_torrent/attach.hpp"
#include "swarm.hpp"

namespace lt = libtorrent;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace piecepay::torrent::cli {
namespace {

/// The seller's credit window in both benches: what loopback moves during one payment round trip (piece
/// passed, receipt signed — and for the agent made durable —, sent, verified, acknowledged). 64 pieces of
/// 256 KiB last ~80 ms at ~200 MiB/s, and on the loaded 2-core machine the seller stalled waiting for
/// receipts, so the benches measured the window, not what payments cost; 256 (~320 ms) did not stall
/// (docs/agent.md, "Sizing the credit window").
constexpr std::uint32_t kBenchCreditPieces = 256;

fs::path work_dir(const Args& a, const char* dflt) {
  return fs::path(a.str("dir", (fs::temp_directory_path() / dflt).string()));
}

/// User + system CPU time this process has used so far (every thread: libtorrent's and the agents').
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto const secs = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

struct TransferResult {
  double mib_s = 0;   ///< over all leechers' bytes
  double cpu_ms = 0;  ///< the process's CPU time while the transfer ran
};

/// Times the transfer to `leechers` (already told of their seeder): from the moment every one is
/// connected — libtorrent dials on its tick (every 500 ms), so a connection starts after 0.5 or 1 s, at
/// random — until every one is seeding; the BitTorrent and piecepay handshakes are inside the clock.
TransferResult timed(std::vector<swarm::Node*> const& leechers, std::int64_t bytes_each) {
  auto const connected = [&] {
    for (auto* p : leechers)
      if (p->torrent.status(lt::torrent_handle::status_flags_t{}).num_peers == 0) return false;
    return true;
  };
  if (!swarm::wait_until(connected, 10s, 1ms)) throw std::runtime_error("leechers did not connect within 10 s");
  auto const start = std::chrono::steady_clock::now();
  double const cpu_start = process_cpu_seconds();
  std::vector<bool> done(leechers.size(), false);
  for (;;) {
    bool all = true;
    for (std::size_t i = 0; i < leechers.size(); ++i) {
      if (!done[i]) done[i] = swarm::wait_finished(*leechers[i], 2ms);
      all = all && done[i];
    }
    if (all) break;
    if (std::chrono::steady_clock::now() - start > 120s)
      throw std::runtime_error("transfer did not finish within 120 s");
  }
  double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double const cpu_ms = (process_cpu_seconds() - cpu_start) * 1000.0;
  double const mib = static_cast<double>(bytes_each) * static_cast<double>(leechers.size()) / (1024.0 * 1024.0);
  return {mib / secs, cpu_ms};
}

/// Runs `transfer(paid)` once untimed per side, then `rounds` rounds of one paid and one free transfer,
/// alternating and flipping the order every round so that drift in machine load hits both sides alike;
/// prints the medians as `<prefix> …` lines on stdout (progress on stderr).
void rounds_and_lines(const std::string& prefix, int rounds, const std::string& only,
                      const std::function<TransferResult(bool paid)>& transfer) {
  std::map<bool, std::vector<double>> mib_s, cpu_ms;  // keyed by paid
  // A process's first transfer is slow (cold caches and allocator): one untimed transfer of each first.
  for (bool const is_paid : {true, false})
    if (only.empty() || only == (is_paid ? "paid" : "free")) transfer(is_paid);
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      bool const is_paid = (k == 0) == (r % 2 == 0);
      if (!only.empty() && only != (is_paid ? "paid" : "free")) continue;
      TransferResult const t = transfer(is_paid);
      mib_s[is_paid].push_back(t.mib_s);
      cpu_ms[is_paid].push_back(t.cpu_ms);
      std::fprintf(stderr, "%s round %d %s: %.1f MiB/s, %.0f ms CPU\n", prefix.c_str(), r + 1,
                   is_paid ? "paid" : "free", t.mib_s, t.cpu_ms);
    }
  }
  char const* const p = prefix.c_str();
  if (!only.empty()) {
    bool const is_paid = only == "paid";
    std::printf("%s throughput_mib_s %s=%.1f\n", p, only.c_str(), stats::median(mib_s[is_paid]));
    std::printf("%s cpu_ms_per_transfer %s=%.0f\n", p, only.c_str(), stats::median(cpu_ms[is_paid]));
    return;
  }
  double const pm = stats::median(mib_s[true]), fm = stats::median(mib_s[false]);
  std::printf("%s throughput_mib_s paid=%.1f free=%.1f ratio=%.3f\n", p, pm, fm, pm / fm);
  auto const [low, high] = stats::median_ratio_ci95(mib_s[true], mib_s[false]);
  std::printf("%s ratio_ci95 low=%.3f high=%.3f rounds=%d\n", p, low, high, rounds);
  double const pc = stats::median(cpu_ms[true]), fc = stats::median(cpu_ms[false]);
  std::printf("%s cpu_ms_per_transfer paid=%.0f free=%.0f ratio=%.3f\n", p, pc, fc, pc / fc);
}

struct Common {
  std::int64_t size;
  int piece;
  int rounds;
  std::string only;  ///< "paid" or "free": one side only (diagnostics)
};

Common common(const Args& a) {
  Common c;
  c.size = static_cast<std::int64_t>(a.num("size-mib", 256, 1u << 20)) * 1024 * 1024;
  auto const piece_kib = a.num("piece-kib", 256, 1u << 16);
  if (c.size <= 0) throw UsageError("--size-mib must be at least 1");
  if (piece_kib < 16 || (piece_kib & (piece_kib - 1)) != 0)
    throw UsageError("--piece-kib must be a power of two >= 16");
  c.piece = static_cast<int>(piece_kib * 1024);
  // Transfers differ by ±4 % from one to the next here, about twice the effect measured: the medians
  // need many rounds, and the ratio comes with its interval.
  c.rounds = static_cast<int>(a.num("rounds", 25, 1000));
  if (c.rounds == 0) throw UsageError("--rounds must be at least 1");
  c.only = a.str("only", "");
  if (!c.only.empty() && c.only != "paid" && c.only != "free") throw UsageError("--only wants paid or free");
  return c;
}

// --- bench-agent: the chain and the two agents -------------------------------------------------------

/// `piecepay-devnet` as a child process: anvil with the contracts and funded accounts, described by one
/// JSON line on its stdout; SIGTERM stops it (and its anvil) when this goes.
class Devnet {
 public:
  Devnet(const std::string& bin, const fs::path& log) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe for piecepay-devnet");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork for piecepay-devnet");
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      int const err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) dup2(err, STDERR_FILENO);
      close(out[0]);
      // Two peers: the leecher (its budget deposited in the escrow) and the seeder. No relayer: the
      // buyer opens on chain, the seller checks on chain.
      execl(bin.c_str(), bin.c_str(), "--port", "0", "--no-relayer", "--json", "--peers", "2", "--leechers", "1",
            "--tokens", "1000", "--deposit", "500", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    info_ = read_line(out[0], 180s);
    close(out[0]);
    if (info_.empty()) {
      stop();
      throw std::runtime_error("piecepay-devnet (" + bin + ") did not start; see " + log.string());
    }
  }
  ~Devnet() { stop(); }
  Devnet(const Devnet&) = delete;
  Devnet& operator=(const Devnet&) = delete;

  /// A string field of the devnet's description (the first with that key from `from` on).
  std::string field(const std::string& key, std::size_t from = 0) const {
    std::string const needle = "\"" + key + "\":\"";
    auto at = info_.find(needle, from);
    if (at == std::string::npos) throw std::runtime_error("piecepay-devnet's description has no " + key);
    at += needle.size();
    return info_.substr(at, info_.find('"', at) - at);
  }
  /// The key of the funded peer with `role` (leecher or seeder), 64 hex digits.
  std::string key_of(const std::string& role) const {
    auto const at = info_.find("\"role\":\"" + role + "\"");
    if (at == std::string::npos) throw std::runtime_error("piecepay-devnet funded no " + role);
    std::string const key = field("key", at);
    return key.rfind("0x", 0) == 0 ? key.substr(2) : key;
  }

 private:
  static std::string read_line(int fd, std::chrono::seconds timeout) {
    std::string line;
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    char c;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      if (read(fd, &c, 1) != 1) return "";
      if (c == '\n') return line;
      line.push_back(c);
    }
    return "";
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  std::string info_;
};

/// Agent configurations (docs/agent.md) for the seller and the buyer on `devnet`, their keys in the
/// environment. Amounts: a price of 10^9 base units per piece, channels of 10^17 (~97 transfers of 1,024
/// pieces), so one channel, opened in the warm-up transfer, pays every timed one: a client's agent keeps
/// one channel per seller for every torrent and restart. Settlement waits an hour (a relayer's batch job,
/// not a per-piece cost; none is configured), so none falls inside the timed transfers. The seller's
/// credit window is kBenchCreditPieces.
struct AgentConfigs {
  fs::path seller, buyer;
};

AgentConfigs write_agent_configs(const Devnet& devnet, const fs::path& dir) {
  setenv("PIECEPAY_BENCH_SELLER_KEY", devnet.key_of("seeder").c_str(), 1);
  setenv("PIECEPAY_BENCH_BUYER_KEY", devnet.key_of("leecher").c_str(), 1);
  std::string const chain =
      "[chain]\nmanifest = \"" + devnet.field("manifest") + "\"\nrpc_url = \"" + devnet.field("rpc_url") + "\"\n";
  fs::create_directories(dir);
  AgentConfigs c{dir / "seller.toml", dir / "buyer.toml"};
  for (auto const& f : {dir / "seller.sqlite", dir / "buyer.sqlite"}) {
    fs::remove(f);
    fs::remove(f.string() + "-wal");
    fs::remove(f.string() + "-shm");
  }
  std::ofstream(c.seller) << "[wallet]\nkey_env = \"PIECEPAY_BENCH_SELLER_KEY\"\n"
                          << chain << "[store]\npath = \"seller.sqlite\"\n"
                          << "[payee]\nprice = 1000000000\ncredit_pieces = " << kBenchCreditPieces
                          << "\nfree_pieces = 0\n"
                          << "[payee.settle]\nmin_value = 1\nmax_age_s = 3600\n";
  std::ofstream(c.buyer) << "[wallet]\nkey_env = \"PIECEPAY_BENCH_BUYER_KEY\"\n"
                         << chain << "[store]\npath = \"buyer.sqlite\"\n"
                         << "[payer]\nmax_price = 1000000000\nbudget_total = 1000000000000000000\n"
                         << "deposit_per_channel = 100000000000000000\nidle_close_s = 0\n";
  return c;
}

/// One side of an agent transfer: its session, then its payments (stopped first, the session after).
struct Side {
  swarm::Node node;
  std::unique_ptr<Attachment> payments;
  ~Side() {
    if (payments) payments->stop();
  }
};

struct AgentTotals {
  std::uint64_t receipts = 0;
  std::uint64_t pieces = 0;
};

/// One bench-agent transfer: a fresh seeder and leecher session, each with its agent started from its
/// configuration (paid: the agents resume their stored channel) or none (free: stock libtorrent with the
/// hashing threads attach would give it). A paid run that did not pay for every piece is refused.
TransferResult agent_transfer(const swarm::Fixture& fx, const fs::path& dir, const AgentConfigs* agents,
                              AgentTotals& totals) {
  Side seller, buyer;
  swarm::SessionHook seller_hook, buyer_hook;
  if (agents) {
    seller_hook = [&](lt::session& s) { seller.payments = attach(s, agents->seller.string()); };
    buyer_hook = [&](lt::session& s) { buyer.payments = attach(s, agents->buyer.string()); };
  } else {
    // attach raises the sessions' hashing threads (HashingThreads); the free sessions get the same, so
    // the paid/free ratio compares payments only, not payments and hashing threads. Never given back:
    // the session ends with the transfer.
    seller_hook = buyer_hook = [](lt::session& s) { HashingThreads(s).raise(); };
  }
  seller.node = swarm::make_seeder(fx, std::nullopt, /*seed_mode=*/true, /*pex=*/false, seller_hook);
  fs::path const save = dir / "leecher";
  fs::remove_all(save);
  lt::add_torrent_params atp;
  atp.ti = std::make_shared<lt::torrent_info>(*fx.info);
  buyer.node = swarm::make_leecher("leecher", std::move(atp), save, std::nullopt, buyer_hook);
  // Both modes dial after the same idle second: the paid sessions' attach already waited up to a tick for
  // their torrents to join, and a free leecher dialling at once raced its own session's start-up (the free
  // medians rose from ~162 to ~184 MiB/s with this wait).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  buyer.node.torrent.connect_peer(seller.node.endpoint());
  TransferResult const t = timed({&buyer.node}, fx.info->total_size());
  if (agents) {
    auto const want = static_cast<std::uint64_t>(fx.info->num_pieces());
    // The last receipt leaves after the last hash check: its acknowledgement comes within a second.
    swarm::wait_until([&] { return !buyer.payments->payments_due(); }, 10s);
    auto const& b = buyer.payments->counters();
    auto const& s = seller.payments->counters();
    if (b.pieces_paid != want || b.pieces_unpaid != 0 || s.pieces_served_paid != want || buyer.payments->payments_due())
      throw std::runtime_error("paid run: " + std::to_string(b.pieces_paid.load()) + " pieces paid, " +
                               std::to_string(b.pieces_unpaid.load()) + " unpaid, " +
                               std::to_string(s.pieces_served_paid.load()) + " served paid of " + std::to_string(want));
    totals.receipts += b.receipts_sent;
    totals.pieces += b.pieces_paid;
  }
  fs::remove_all(save);
  return t;
}

}  // namespace

const std::set<std::string> kBenchOptions = {"size-mib", "piece-kib", "rounds", "leechers", "dir", "only"};
const std::set<std::string> kBenchAgentOptions = {"devnet", "size-mib", "piece-kib", "rounds", "dir", "only"};

int bench(const Args& a) {
  Common const c = common(a);
  fs::path const dir = work_dir(a, "piecepay-torrent");
  auto const leechers = static_cast<int>(a.num("leechers", 1, 8));
  if (leechers == 0) throw UsageError("--leechers must be at least 1");
  auto fx = swarm::make_fixture(dir / "seed", "bench.bin", c.size, c.piece, 0xbe9c);
  // One transfer: a fresh seeder and `leechers` fresh leechers, payments on (every piece must be paid, or
  // the run is refused) or off (stock libtorrent).
  auto const transfer = [&](bool paid) {
    std::optional<Options> seeder_opts;
    if (paid) {
      seeder_opts = swarm::demo_payee_options(0);
      seeder_opts->payee->credit_pieces = kBenchCreditPieces;
    }
    swarm::Node seeder = swarm::make_seeder(fx, seeder_opts);
    std::vector<swarm::Node> peers;
    for (int i = 0; i < leechers; ++i) {
      std::optional<Options> o;
      if (paid) o = swarm::demo_payer_options(i);
      fs::path const save = dir / ("leecher" + std::to_string(i));
      fs::remove_all(save);
      peers.push_back(swarm::make_leecher("leecher" + std::to_string(i), fx, save, o));
    }
    std::vector<swarm::Node*> timed_peers;
    for (auto& p : peers) {
      p.torrent.connect_peer(seeder.endpoint());
      timed_peers.push_back(&p);
    }
    TransferResult const t = timed(timed_peers, fx.info->total_size());
    if (paid) {
      // A paid run that did not pay for every piece measured something else: refuse it.
      auto const want = static_cast<std::uint64_t>(fx.info->num_pieces()) * static_cast<std::uint64_t>(leechers);
      // The last receipts leave after the last hash checks: give them a moment to arrive.
      swarm::wait_until([&] { return swarm::pieces_paid_to(seeder) >= want; }, 5s);
      auto const got = swarm::pieces_paid_to(seeder);
      if (got != want)
        throw std::runtime_error("paid run: " + std::to_string(got) + " pieces paid of " + std::to_string(want));
    }
    for (int i = 0; i < leechers; ++i) fs::remove_all(dir / ("leecher" + std::to_string(i)));
    return t;
  };
  rounds_and_lines("torrent", c.rounds, c.only, transfer);
  return 0;
}

int bench_agent(const Args& a) {
  Common const c = common(a);
  std::string const devnet_bin = a.str("devnet", "");
  if (devnet_bin.empty()) throw UsageError("--devnet BIN (piecepay-devnet) is required");
  fs::path const dir = work_dir(a, "piecepay-torrent-agent-bench");
  fs::create_directories(dir);
  auto fx = swarm::make_fixture(dir / "seed", "bench.bin", c.size, c.piece, 0xbe9c);
  Devnet const devnet(devnet_bin, dir / "devnet.log");
  AgentConfigs const agents = write_agent_configs(devnet, dir / "agents");
  std::fprintf(stderr, "bench-agent: devnet %s, agents in %s\n", devnet.field("rpc_url").c_str(),
               (dir / "agents").string().c_str());
  AgentTotals warm_up, totals;
  bool warmed = false;
  rounds_and_lines("torrent agent", c.rounds, c.only, [&](bool paid) {
    // The first paid transfer opens the channel (a transaction, awaited): untimed, like the warm-ups.
    AgentTotals& into = paid && !warmed ? warm_up : totals;
    if (paid) warmed = true;
    return agent_transfer(fx, dir, paid ? &agents : nullptr, into);
  });
  if (c.only != "free" && totals.pieces > 0)
    std::printf("torrent agent receipts_per_piece=%.3f receipts=%llu pieces=%llu\n",
                static_cast<double>(totals.receipts) / static_cast<double>(totals.pieces),
                (unsigned long long)totals.receipts, (unsigned long long)totals.pieces);
  return 0;
}

}  // namespace piecepay::torrent::cli
