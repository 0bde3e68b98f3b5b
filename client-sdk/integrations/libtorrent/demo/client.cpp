// piecepay-torrent serve|download: one libtorrent session with payments attached from an agent
// configuration (docs/agent.md), on loopback.
//
//   piecepay-torrent serve --config FILE [--password-env VAR] [--size-kib K] [--piece-kib K] [--dir DIR]
//       seeds a generated torrent (written to DIR/seed/served.bin.torrent), selling as the agent's
//       [payee] section says, until SIGTERM or SIGINT. Finished buyers stay connected (libtorrent's
//       close_redundant_connections off) so that they can close their channels cooperatively.
//   piecepay-torrent download --config FILE [--password-env VAR] --torrent FILE --peer HOST:PORT [--dir DIR]
//                             [--close yes] [--rate-kib R] [--timeout-s T]
//       downloads FILE's torrent into DIR/download from one peer, paying as the agent's [payer] section
//       says. Pieces already in DIR/download (a download interrupted, even by SIGKILL) are checked and kept,
//       not fetched or paid again. --rate-kib caps the download rate (KiB/s). With --close yes, once complete and every
//       piece paid: closes the agent's channels cooperatively and waits for the close to be on chain.
//
// Both print one JSON line on stdout once listening ({"listen":"127.0.0.1:P","address":"0x..","torrent":
// ".."}), `progress: have=H/N paid=P unpaid=U served_paid=S served_free=F` on stderr twice a second, the
// agent's events as `event: {...}` lines on stderr, and, at the end, the agent's report (one JSON line) on
// stdout. Exit status: 0 done (serve: stopped by a signal), 1 failed (download incomplete or close not
// confirmed within the timeout), 2 usage error. The password of a keystore comes from --password-env
// (default: the agent's own `wallet.password_env`).
#include "client.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/peer_class.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "piecepay_torrent/attach.hpp"
#include "session_args.hpp"
#include "swarm.hpp"

namespace lt = libtorrent;
namespace fs = std::filesystem;

namespace piecepay::torrent::cli {
namespace {

std::unique_ptr<Attachment> attach_from(lt::session& session, const Args& a) {
  std::string const config = a.str("config", "");
  if (config.empty()) throw UsageError("--config FILE is required");
  const char* password = nullptr;
  if (a.has("password-env")) {
    password = std::getenv(a.str("password-env", "").c_str());
    if (password == nullptr) throw UsageError("--password-env " + a.str("password-env", "") + " is not set");
  }
  return attach(session, config, password);
}

/// One session's torrent and payments, until `done` says so or a signal stops it.
struct Client {
  swarm::Node node;
  std::unique_ptr<Attachment> payments;

  void hello(const std::string& torrent) const {
    std::printf(R"({"listen":"127.0.0.1:%d","address":"%s","torrent":"%s"})"
                "\n",
                node.session->listen_port(), payments->address().c_str(), torrent.c_str());
    std::fflush(stdout);
  }

  /// Drains alerts and events, with progress twice a second; returns the last event seen of `type`.
  void poll(std::chrono::steady_clock::time_point& next_progress, std::string* event_seen, const char* type) {
    node.session->wait_for_alert(lt::milliseconds(100));
    std::vector<lt::alert*> alerts;
    node.session->pop_alerts(&alerts);
    while (auto event = payments->next_event_json()) {
      std::fprintf(stderr, "event: %s\n", event->c_str());
      if (event_seen && event->find(std::string(R"("type":")") + type + "\"") != std::string::npos)
        *event_seen = *event;
    }
    if (std::chrono::steady_clock::now() < next_progress) return;
    next_progress = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    auto const& c = payments->counters();
    auto const status = node.torrent.status(lt::torrent_handle::status_flags_t{});
    int const pieces = node.torrent.torrent_file() ? node.torrent.torrent_file()->num_pieces() : 0;
    std::fprintf(stderr, "progress: have=%d/%d paid=%llu unpaid=%llu served_paid=%llu served_free=%llu\n",
                 status.num_pieces, pieces, (unsigned long long)c.pieces_paid, (unsigned long long)c.pieces_unpaid,
                 (unsigned long long)c.pieces_served_paid, (unsigned long long)c.pieces_served_free);
  }

  void finish() {
    std::printf("%s\n", payments->report_json().c_str());
    std::fflush(stdout);
    payments->stop();
  }
};

}  // namespace

const std::set<std::string> kServeOptions = {"config", "password-env", "size-kib", "piece-kib", "dir"};
const std::set<std::string> kDownloadOptions = {"config", "password-env", "torrent",  "peer",
                                                "dir",    "close",        "rate-kib", "timeout-s"};

int serve(const Args& a) {
  fs::path const dir = a.str("dir", (fs::temp_directory_path() / "piecepay-torrent-serve").string());
  auto const fx = seed_fixture(a, dir, "served.bin", 0x5e77e);
  install_stop_signals();
  Client c{swarm::make_seeder(fx, std::nullopt, /*seed_mode=*/true, /*pex=*/false), nullptr};
  // A buyer that finished closes its channel cooperatively, with this seller connected: libtorrent would
  // drop a connection between two seeds at once.
  lt::settings_pack keep;
  keep.set_bool(lt::settings_pack::close_redundant_connections, false);
  c.node.session->apply_settings(std::move(keep));
  c.payments = attach_from(*c.node.session, a);
  c.hello((fx.dir / (fx.name + ".torrent")).string());
  auto next = std::chrono::steady_clock::now();
  while (!g_stop.load()) c.poll(next, nullptr, "");
  c.finish();
  return 0;
}

int download(const Args& a) {
  std::string const torrent = a.str("torrent", "");
  Source const source = download_source(a);
  std::string const close = a.str("close", "no");
  if (close != "yes" && close != "no") throw UsageError("--close wants yes or no");
  auto const timeout = std::chrono::seconds(a.num("timeout-s", 120, 86400));
  fs::path const dir = a.str("dir", (fs::temp_directory_path() / "piecepay-torrent-download").string());
  install_stop_signals();
  Client c{swarm::make_leecher("downloader", swarm::Fixture{dir, source.info->name(), source.info}, dir / "download",
                               std::nullopt,
                               /*pex=*/false),
           nullptr};
  if (a.has("rate-kib")) {
    // Peers on 127.0.0.1 are in libtorrent's local peer class, which the session's rate limit skips.
    lt::peer_class_info local = c.node.session->get_peer_class(lt::session::local_peer_class_id);
    local.download_limit = static_cast<int>(a.num("rate-kib", 0, 1u << 20) * 1024);
    c.node.session->set_peer_class(lt::session::local_peer_class_id, local);
  }
  if (close == "yes") {
    // The cooperative close needs the seller connected (serve keeps it too).
    lt::settings_pack keep;
    keep.set_bool(lt::settings_pack::close_redundant_connections, false);
    c.node.session->apply_settings(std::move(keep));
  }
  c.payments = attach_from(*c.node.session, a);
  c.hello(torrent);
  c.node.torrent.connect_peer(source.peer);
  auto const deadline = std::chrono::steady_clock::now() + timeout;
  auto next = std::chrono::steady_clock::now();
  auto const complete = [&] { return c.node.torrent.status(lt::torrent_handle::status_flags_t{}).is_seeding; };
  while (!g_stop.load() && !complete() && std::chrono::steady_clock::now() < deadline) c.poll(next, nullptr, "");
  bool ok = complete();
  std::fprintf(stderr, "download: %s\n", ok ? "complete" : "incomplete");
  if (ok && close == "yes") {
    // The last pieces are paid (and acknowledged) before the close.
    while (!g_stop.load() && c.payments->payments_due() && std::chrono::steady_clock::now() < deadline)
      c.poll(next, nullptr, "");
    c.payments->close_all();
    std::string closed;
    while (!g_stop.load() && closed.empty() && std::chrono::steady_clock::now() < deadline)
      c.poll(next, &closed, "channel_closed");
    ok = !closed.empty();
    std::fprintf(stderr, "download: channels %s\n", ok ? "closed" : "not closed");
  }
  c.finish();
  return ok ? 0 : 1;
}

}  // namespace piecepay::torrent::cli
