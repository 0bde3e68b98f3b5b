// piecepay-torrent seed|leech: one libtorrent session with piecepay's plugin, facing a peer of another
// implementation on loopback (the JavaScript client's interoperability tests drive it).
//
//   piecepay-torrent seed  --key K --chain-id N --escrow 0x.. --token 0x.. [--price P] [--credit-pieces C]
//                          [--free-pieces F] [--verified PAYER:SALT:DEPOSIT,...] [--size-kib K]
//                          [--piece-kib K] [--dir DIR]
//       a payee seeding a generated torrent (written to DIR/seed/interop.bin.torrent); it serves the
//       channels the caller checked on chain (--verified) and nothing else beyond the free share.
//   piecepay-torrent leech --key K --chain-id N --escrow 0x.. --token 0x.. --torrent FILE --peer HOST:PORT
//                          [--max-price P] [--open-channel PAYEE:SALT:DEPOSIT,...] [--dir DIR]
//       a payer downloading FILE's torrent from one peer, paying on the channels the caller opened on
//       chain (--open-channel), after each piece's hash check.
//
// Both print one JSON line on stdout once listening ({"listen":"127.0.0.1:P","address":"0x..",...}),
// `progress: have=H/N paid=P unpaid=U accepted=A rejected=R errors=E` on stderr twice a second, and on
// SIGTERM or SIGINT one last JSON line on stdout (counters, the payee's latest receipts, every channel's
// books), then exit 0.
#include "peer.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "session_args.hpp"
#include "swarm.hpp"

namespace lt = libtorrent;
namespace fs = std::filesystem;

namespace piecepay::torrent::cli {
namespace {

ChainOptions chain(const Args& a) {
  for (auto const* k : {"key", "escrow", "token"})
    if (!a.has(k)) throw UsageError(std::string("--") + k + " is required");
  return ChainOptions{a.num("chain-id", 31337), address_arg(a, "escrow", ""), address_arg(a, "token", "")};
}

/// `ADDRESS:SALT:DEPOSIT,...`: channels the caller opened and checked on chain.
std::vector<KnownChannel> known_channels(const Args& a, const std::string& k) {
  std::vector<KnownChannel> out;
  for (auto const& item : a.list(k)) {
    auto const first = item.find(':');
    auto const second = item.find(':', first == std::string::npos ? first : first + 1);
    if (first == std::string::npos || second == std::string::npos)
      throw UsageError("--" + k + " wants ADDRESS:SALT:DEPOSIT items");
    Args one;
    one.kv = {{"address", item.substr(0, first)},
              {"salt", item.substr(first + 1, second - first - 1)},
              {"deposit", item.substr(second + 1)}};
    out.push_back(KnownChannel{address_arg(one, "address", ""),
                               static_cast<std::uint32_t>(one.num("salt", 0, UINT32_MAX)), one.amount("deposit", "")});
  }
  return out;
}

std::string report(const swarm::Node& node) {
  auto const& c = node.extension->counters();
  auto const status = node.torrent.status(lt::torrent_handle::status_flags_t{});
  std::ostringstream o;
  o << R"({"pieces":)" << node.torrent.torrent_file()->num_pieces() << R"(,"have":)" << status.num_pieces
    << R"(,"counters":{"peers":)" << c.peers << R"(,"peers_with_extension":)" << c.peers_with_extension
    << R"(,"pieces_served_paid":)" << c.pieces_served_paid << R"(,"pieces_served_free":)" << c.pieces_served_free
    << R"(,"requests_swallowed":)" << c.requests_swallowed << R"(,"chokes":)" << c.chokes << R"(,"receipts_accepted":)"
    << c.receipts_accepted << R"(,"receipts_rejected":)" << c.receipts_rejected << R"(,"pieces_paid":)" << c.pieces_paid
    << R"(,"pieces_unpaid":)" << c.pieces_unpaid << R"(,"protocol_errors":)" << c.protocol_errors
    << R"(},"receipts":[)";
  auto const receipts = node.extension->latest_receipts();
  for (std::size_t i = 0; i < receipts.size(); ++i) o << (i ? "," : "") << receipts[i].to_json();
  o << R"(],"channels":[)";
  auto const channels = node.extension->channels();
  for (std::size_t i = 0; i < channels.size(); ++i) {
    auto const& ch = channels[i];
    o << (i ? "," : "") << R"({"channel_id":")" << ch.channel_id << R"(","payer":")" << ch.payer << R"(","payee":")"
      << ch.payee << R"(","salt":)" << ch.salt << R"(,"pieces":)" << ch.pieces << R"(,"receipts":)" << ch.receipts
      << R"(,"cumulative":")" << ch.cumulative << R"("})";
  }
  o << "]}";
  return o.str();
}

/// Serves the session until SIGTERM or SIGINT, with progress on stderr, then prints the report.
int run(swarm::Node& node, const std::string& hello) {
  std::printf("%s\n", hello.c_str());
  std::fflush(stdout);
  auto next_progress = std::chrono::steady_clock::now();
  while (!g_stop.load()) {
    // Alerts are drained so the queue never fills; waking on one is not a wait for anything.
    node.session->wait_for_alert(lt::milliseconds(100));
    std::vector<lt::alert*> alerts;
    node.session->pop_alerts(&alerts);
    if (std::chrono::steady_clock::now() < next_progress) continue;
    next_progress += std::chrono::milliseconds(500);
    auto const& c = node.extension->counters();
    auto const status = node.torrent.status(lt::torrent_handle::status_flags_t{});
    std::fprintf(stderr, "progress: have=%d/%d paid=%llu unpaid=%llu accepted=%llu rejected=%llu errors=%llu\n",
                 status.num_pieces, node.torrent.torrent_file()->num_pieces(), (unsigned long long)c.pieces_paid,
                 (unsigned long long)c.pieces_unpaid, (unsigned long long)c.receipts_accepted,
                 (unsigned long long)c.receipts_rejected, (unsigned long long)c.protocol_errors);
  }
  std::printf("%s\n", report(node).c_str());
  std::fflush(stdout);
  return 0;
}

std::string hello(const swarm::Node& node, const std::string& address, const std::string& torrent) {
  std::ostringstream o;
  o << R"({"listen":"127.0.0.1:)" << node.session->listen_port() << R"(","address":")" << address << R"(","torrent":")"
    << torrent << R"("})";
  return o.str();
}

}  // namespace

const std::set<std::string> kSeedOptions = {"key",      "chain-id",      "escrow",      "token",
                                            "price",    "credit-pieces", "free-pieces", "verified",
                                            "size-kib", "piece-kib",     "dir"};
const std::set<std::string> kLeechOptions = {"key",  "chain-id",  "escrow",       "token", "torrent",
                                             "peer", "max-price", "open-channel", "dir"};

int seed(const Args& a) {
  Options o;
  o.chain = chain(a);
  PayeeOptions p;
  p.key_hex = a.str("key", "");
  p.price = a.amount("price", "1000");
  p.credit_pieces = static_cast<std::uint32_t>(a.num("credit-pieces", 64, UINT32_MAX));
  p.verified_channels = known_channels(a, "verified");
  o.payee = p;
  o.free_pieces = static_cast<std::uint32_t>(a.num("free-pieces", 0, UINT32_MAX));
  fs::path const dir = a.str("dir", (fs::temp_directory_path() / "piecepay-torrent-seed").string());
  auto const fx = seed_fixture(a, dir, "interop.bin", 0x1e7e40);
  install_stop_signals();
  swarm::Node node = swarm::make_seeder(fx, o, /*seed_mode=*/true, /*pex=*/false);
  return run(node, hello(node, address_of(p.key_hex), (fx.dir / (fx.name + ".torrent")).string()));
}

int leech(const Args& a) {
  Options o;
  o.chain = chain(a);
  PayerOptions p;
  p.key_hex = a.str("key", "");
  p.max_price = a.amount("max-price", "1000000");
  p.open_channels = known_channels(a, "open-channel");
  o.payer = p;
  std::string const torrent = a.str("torrent", "");
  Source const source = download_source(a);
  fs::path const dir = a.str("dir", (fs::temp_directory_path() / "piecepay-torrent-leech").string());
  swarm::Fixture const fx{dir, source.info->name(), source.info};
  install_stop_signals();
  fs::remove_all(dir / "download");
  swarm::Node node = swarm::make_leecher("leecher", fx, dir / "download", o, /*pex=*/false);
  node.torrent.connect_peer(source.peer);
  return run(node, hello(node, address_of(p.key_hex), torrent));
}

}  // namespace piecepay::torrent::cli
