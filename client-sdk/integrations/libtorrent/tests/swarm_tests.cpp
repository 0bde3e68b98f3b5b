// Loopback swarm tests with real libtorrent sessions and real foreign clients (transmission-cli, aria2c):
// the paying seeder's policy towards peers without the extension, interoperability, and (with the C ABI)
// paying leechers completing beside them. Every wait polls a condition with a deadline.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <libtorrent/torrent_status.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "check.hpp"
#include "swarm.hpp"
#include "tracker.hpp"

namespace lt = libtorrent;
namespace fs = std::filesystem;
using namespace piecepay::torrent;
using namespace std::chrono_literals;

namespace {

constexpr int kPieceSize = 256 * 1024;
constexpr std::int64_t kSize = 16 * 1024 * 1024;  // 64 pieces
// Pieces a choked peer may still get past its share: requests libtorrent had already handed to the disk
// when the choke came (the choke rejects everything still queued).
constexpr std::uint64_t kOvershoot = 8;

fs::path test_dir(const std::string& name) {
  fs::path const d = fs::temp_directory_path() / ("piecepay-torrent-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

swarm::Fixture fixture() {
  static swarm::Fixture fx = swarm::make_fixture(
      fs::temp_directory_path() / ("piecepay-torrent-test-" + std::to_string(::getpid())) / "seed", "data.bin", kSize,
      kPieceSize, 0x7e57);
  return fx;
}

bool same_bytes(const fs::path& a, const fs::path& b) {
  if (!fs::exists(a) || !fs::exists(b) || fs::file_size(a) != fs::file_size(b)) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  return std::equal(std::istreambuf_iterator<char>(fa), {}, std::istreambuf_iterator<char>(fb));
}

std::uint16_t free_port() {
  int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// A foreign client process, killed (by its pid) when it goes out of scope.
class Child {
 public:
  Child(std::vector<std::string> argv, const fs::path& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      FILE* f = std::fopen(log.c_str(), "w");
      if (f) {
        ::dup2(fileno(f), 1);
        ::dup2(fileno(f), 2);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::_Exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  /// Whether it has exited (reaps it); `status` gets its exit code.
  bool exited(int* code = nullptr) {
    if (exited_) {
      if (code) *code = code_;
      return true;
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      if (code) *code = code_;
    }
    return exited_;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = 0;
};

Child aria2c(const fs::path& torrent, const fs::path& dir) {
  return Child({"aria2c", "--dir=" + dir.string(), "--enable-dht=false", "--enable-dht6=false",
                "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
                "--listen-port=" + std::to_string(free_port()), "--seed-time=0", "--file-allocation=none",
                "--summary-interval=0", "--console-log-level=notice", "--bt-require-crypto=false",
                "--bt-tracker-connect-timeout=5", "--bt-tracker-interval=5", torrent.string()},
               dir / "aria2c.log");
}

// transmission drops every 127.x peer a tracker hands it ("martian" addresses), but accepts incoming
// connections: the seeder dials it on `port` instead.
Child transmission(const fs::path& torrent, const fs::path& dir, std::uint16_t port) {
  fs::path const config = dir / "transmission-config";
  fs::create_directories(config);
  std::ofstream(config / "settings.json")
      << R"({"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
             "port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
             "peer-port-random-on-start": false, "rpc-enabled": false, "blocklist-enabled": false,
             "ratio-limit-enabled": false, "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
             "encryption": 1, "message-level": 2})";
  fs::path const done = dir / "transmission.done";
  fs::path const script = dir / "on-finish.sh";
  std::ofstream(script) << "#!/bin/sh\ntouch '" << done.string() << "'\n";
  fs::permissions(script, fs::perms::owner_all);
  return Child({"transmission-cli", "-g", config.string(), "-w", dir.string(), "-p", std::to_string(port),
                "-et", "-f", script.string(), torrent.string()},
               dir / "transmission.log");
}

/// Dials `port` from the seeder until `connected` holds (transmission listens only once it has loaded
/// and verified the torrent; dialing an already connected peer is a no-op).
template <class Pred>
bool dial_until(swarm::Node& seeder, std::uint16_t port, Pred connected, std::chrono::milliseconds timeout) {
  lt::tcp::endpoint const ep(lt::make_address("127.0.0.1"), port);
  return swarm::wait_until(
      [&] {
        if (connected()) return true;
        seeder.torrent.connect_peer(ep);
        return false;
      },
      timeout, 250ms);
}

std::uint64_t piece_count(swarm::Node& n) {
  return static_cast<std::uint64_t>(n.torrent.status(lt::torrent_handle::status_flags_t{}).num_pieces);
}

bool finished(swarm::Node& n) { return n.torrent.status(lt::torrent_handle::status_flags_t{}).is_seeding; }

// Paying leechers download everything and pay for every piece once: the payee ends up holding, per
// channel, the receipt for exactly (pieces × price), and nothing was refused.
void paying_leechers_complete_and_pay_every_piece() {
  auto fx = fixture();
  fs::path const dir = test_dir("paying");
  swarm::Node seeder = swarm::make_seeder(fx, swarm::demo_payee_options(0));
  std::vector<swarm::Node> leechers;
  for (int i = 0; i < 2; ++i)
    leechers.push_back(swarm::make_leecher("payer" + std::to_string(i), fx, dir / std::to_string(i),
                                           swarm::demo_payer_options(i)));
  for (auto& l : leechers) l.torrent.connect_peer(seeder.endpoint());
  for (auto& l : leechers) CHECK(swarm::wait_finished(l, 60s));
  for (auto& l : leechers) CHECK(same_bytes(dir / l.name.substr(5) / fx.name, fx.dir / fx.name));
  Counters const& c = seeder.extension->counters();
  auto const pieces = static_cast<std::uint64_t>(fx.info->num_pieces());
  // Receipts travel after the hash check: the last ones may still be on their way when the download ends.
  CHECK(swarm::wait_until([&] { return c.receipts_accepted.load() == 2 * pieces; }, 10s));
  CHECK(c.receipts_rejected.load() == 0);
  CHECK(c.protocol_errors.load() == 0);
  CHECK(c.pieces_served_paid.load() == 2 * pieces);
  CHECK(c.pieces_served_free.load() == 0);
  CHECK(c.peers_with_extension.load() == 2);
  auto const receipts = seeder.extension->latest_receipts();
  CHECK(receipts.size() == 2);
  for (auto const& r : receipts) {
    CHECK(r.cumulative == std::to_string(pieces * 1000));  // the demo price is 1000 per piece
    CHECK(r.signature.size() == 2 + 128);
    CHECK(r.payee == "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");  // anvil dev account 1
  }
  for (auto& l : leechers) CHECK(l.extension->counters().pieces_paid.load() == pieces);
}

// A payer that stops paying is served at most its credit window beyond what it paid, then choked, and
// its requests are swallowed: it never completes.
void defaulting_payer_is_choked_at_its_credit_window() {
  auto fx = fixture();
  fs::path const dir = test_dir("defaulting");
  constexpr std::uint32_t kCredit = 4;
  constexpr std::uint64_t kPaid = 8;
  Options seller = swarm::demo_payee_options(0);
  seller.payee->credit_pieces = kCredit;
  swarm::Node seeder = swarm::make_seeder(fx, seller);
  Options buyer = swarm::demo_payer_options(0);
  buyer.payer->default_after_pieces = kPaid;
  swarm::Node payer = swarm::make_leecher("defaulter", fx, dir, buyer);
  payer.torrent.connect_peer(seeder.endpoint());
  Counters const& c = seeder.extension->counters();
  CHECK(swarm::wait_until([&] { return c.receipts_accepted.load() == kPaid && c.pieces_served_paid.load() >= kPaid + kCredit - 1 && c.chokes.load() >= 1; }, 20s));
  CHECK(!swarm::wait_until([&] { return c.pieces_served_paid.load() > kPaid + kCredit + kOvershoot; }, 2s));
  CHECK(!finished(payer));
  CHECK(c.receipts_accepted.load() == kPaid);
}

// A stock libtorrent leecher (no extension) gets the free share from a paying seeder, then is choked and
// stays choked; the seeder keeps running.
void stock_leecher_gets_free_share_then_is_choked() {
  auto fx = fixture();
  fs::path const dir = test_dir("stock");
  constexpr std::uint32_t kFree = 8;
  swarm::Node seeder = swarm::make_seeder(fx, swarm::demo_payee_options(kFree));
  swarm::Node stock = swarm::make_leecher("stock", fx, dir, std::nullopt);
  stock.torrent.connect_peer(seeder.endpoint());
  Counters const& c = seeder.extension->counters();
  CHECK(swarm::wait_until([&] { return c.chokes.load() >= 1 && c.pieces_served_free.load() >= kFree; }, 20s));
  CHECK(swarm::wait_until([&] { return piece_count(stock) >= kFree; }, 10s));
  // Bounded negative check: it must not get further (nothing else would wake this up early).
  CHECK(!swarm::wait_until([&] { return piece_count(stock) > kFree + kOvershoot; }, 2s));
  CHECK(c.pieces_served_free.load() <= kFree + kOvershoot);
  CHECK(c.peers_with_extension.load() == 0);
  CHECK(!stock.torrent.status(lt::torrent_handle::status_flags_t{}).is_seeding);
}

// Foreign clients download the whole torrent when the free share covers it (the extension is invisible
// to them), and the bytes are the seeder's.
void foreign_clients_complete_within_free_share() {
  auto fx = fixture();
  fs::path const dir = test_dir("foreign-free");
  swarm::Node seeder = swarm::make_seeder(fx, swarm::demo_payee_options(static_cast<std::uint32_t>(fx.info->num_pieces())));
  swarm::Tracker tracker({seeder.endpoint().port()});
  fs::path const torrent = dir / "data.torrent";
  swarm::write_torrent_file(fx, tracker.announce_url(), torrent);
  fs::create_directories(dir / "aria2c");
  fs::create_directories(dir / "transmission");
  Child aria = aria2c(torrent, dir / "aria2c");
  std::uint16_t const tr_port = free_port();
  Child tr = transmission(torrent, dir / "transmission", tr_port);
  Counters const& c = seeder.extension->counters();
  CHECK(dial_until(seeder, tr_port, [&] { return c.peers.load() >= 2; }, 30s));
  int aria_code = -1;
  CHECK(swarm::wait_until([&] { return aria.exited(&aria_code); }, 60s, 20ms));
  CHECK(aria_code == 0);
  CHECK(same_bytes(dir / "aria2c" / fx.name, fx.dir / fx.name));
  CHECK(swarm::wait_until([&] { return fs::exists(dir / "transmission" / "transmission.done"); }, 60s, 20ms));
  CHECK(same_bytes(dir / "transmission" / fx.name, fx.dir / fx.name));
  CHECK(c.protocol_errors.load() == 0);
}

// With no free share, foreign clients connect, ask, and are choked: no crash on either side, they get
// (almost) nothing, and paying leechers beside them complete.
void foreign_and_stock_peers_refused_while_payers_complete() {
  auto fx = fixture();
  fs::path const dir = test_dir("foreign-choked");
  swarm::Node seeder = swarm::make_seeder(fx, swarm::demo_payee_options(0));
  swarm::Tracker tracker({seeder.endpoint().port()});
  fs::path const torrent = dir / "data.torrent";
  swarm::write_torrent_file(fx, tracker.announce_url(), torrent);
  fs::create_directories(dir / "aria2c");
  fs::create_directories(dir / "transmission");
  Child aria = aria2c(torrent, dir / "aria2c");
  std::uint16_t const tr_port = free_port();
  Child tr = transmission(torrent, dir / "transmission", tr_port);
  Counters const& c = seeder.extension->counters();
  // Both connected and were refused at least once each.
  CHECK(dial_until(seeder, tr_port, [&] { return c.peers.load() >= 2 && c.chokes.load() >= 2; }, 30s));
  // Paying leechers and a stock libtorrent leecher join the same seeder: the payers are not stalled by
  // the refused peers, the stock one is refused like the foreign ones.
  std::vector<swarm::Node> payers;
  for (int i = 0; i < 2; ++i)
    payers.push_back(swarm::make_leecher("payer" + std::to_string(i), fx, dir / ("payer" + std::to_string(i)),
                                         swarm::demo_payer_options(i)));
  swarm::Node stock = swarm::make_leecher("stock", fx, dir / "stock", std::nullopt);
  stock.torrent.connect_peer(seeder.endpoint());
  for (auto& p : payers) p.torrent.connect_peer(seeder.endpoint());
  for (auto& p : payers) CHECK(swarm::wait_finished(p, 30s));
  auto const pieces = static_cast<std::uint64_t>(fx.info->num_pieces());
  CHECK(swarm::wait_until([&] { return c.receipts_accepted.load() == 2 * pieces; }, 10s));
  // The seeder gave the refused peers (stock, aria2c, transmission) next to nothing. The stock leecher
  // may still complete: it learns the payers through PEX, and payers (no payee role) share for free.
  CHECK(c.pieces_served_free.load() <= 3 * kOvershoot);
  CHECK(!aria.exited());  // still waiting for data, not crashed
  CHECK(!tr.exited());
  CHECK(!fs::exists(dir / "transmission" / "transmission.done"));
  CHECK(c.protocol_errors.load() == 0);
}

}  // namespace

int main(int argc, char** argv) {
  int const rc = check::run(
      {
          {"paying_leechers_complete_and_pay_every_piece", paying_leechers_complete_and_pay_every_piece},
          {"defaulting_payer_is_choked_at_its_credit_window", defaulting_payer_is_choked_at_its_credit_window},
          {"stock_leecher_gets_free_share_then_is_choked", stock_leecher_gets_free_share_then_is_choked},
          {"foreign_clients_complete_within_free_share", foreign_clients_complete_within_free_share},
          {"foreign_and_stock_peers_refused_while_payers_complete", foreign_and_stock_peers_refused_while_payers_complete},
      },
      argc, argv);
  fs::remove_all(fs::temp_directory_path() / ("piecepay-torrent-test-" + std::to_string(::getpid())));
  return rc;
}
