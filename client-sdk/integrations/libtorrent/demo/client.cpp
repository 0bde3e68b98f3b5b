// piecepay-torrent serve|download|balance|withdraw|close: a torrent client whose payments are the client
// agent's (piecepay::torrent::attach, docs/agent.md), on loopback.
//
//   piecepay-torrent serve --config FILE [--password-env VAR] [--dir DIR]
//                          [--file PATH [--piece-kib K] | --torrent FILE | --size-kib K [--piece-kib K]]
//       seeds, selling as the agent's [payee] section says, until SIGTERM or SIGINT: PATH (a .torrent of it
//       is written to DIR/PATH's name.torrent), FILE's torrent (its data under DIR), or by default a generated
//       torrent (DIR/seed/served.bin and its .torrent). The files are checked before anything is served.
//       Finished buyers stay connected (libtorrent's close_redundant_connections off) so that they can close
//       their channels cooperatively.
//   piecepay-torrent download --config FILE [--password-env VAR] (--torrent FILE | --magnet URI)
//                             [--peer HOST:PORT[,HOST:PORT...]] [--dir DIR] [--linger-s L] [--close yes]
//                             [--rate-kib R] [--timeout-s T]
//       downloads into DIR/download from the peers given (and a magnet link's x.pe peers; its metadata comes
//       from them), paying as the agent's [payer] section says. Pieces already in DIR/download (a download
//       interrupted, even by SIGKILL) are checked and kept, not fetched or paid again. --rate-kib caps the
//       download rate (KiB/s). Once complete it seeds on for L s (default 0) and waits until every piece is
//       paid. With --close yes it then closes the agent's channels cooperatively and waits for the closes
//       on chain.
//   piecepay-torrent balance --config FILE [--password-env VAR] [--json yes]
//       one line: the wallet (tokens, withdrawable, locked, pending), spent and earned; then one line per
//       channel. --json yes: the agent's report instead.
//   piecepay-torrent withdraw --config FILE [--password-env VAR] [--to ADDR] [--amount N]
//       moves N (default: all that is withdrawable) out of the escrow to ADDR (default: the agent's account).
//   piecepay-torrent close --config FILE [--password-env VAR] [--wait-s S]
//       closes every channel the agent pays on (no seller is connected here: a close request, which the
//       agent finalizes after the challenge window when it runs again) and waits up to S s (default 60) until
//       the chain shows each one closing or closed.
//
// serve and download print one JSON line on stdout once listening ({"listen":"127.0.0.1:P","address":
// "0x..","torrent":".."}, and serve the torrent's "magnet" link), progress on stderr twice a second — a bar on a
// terminal, else `progress: have=H/N paid=P unpaid=U served_paid=S served_free=F` lines —, the agent's events as
// `event: {...}` lines on stderr, and at the end a `summary:` line (what was paid or earned) on stderr and the agent's
// report (one JSON line) on stdout. Exit status: 0 done (serve: stopped by a signal), 1 failed (download incomplete,
// close not confirmed within the timeout, the agent refused: `error[code]: …`), 2 usage error. The password
// of a keystore comes from --password-env (default: the agent's own `wallet.password_env`).
#include "client.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/peer_class.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

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

/// The value of the first `"key":` in `json` from `from` on, as text (a string's contents, or a number,
/// `null`, …). The agent's report has a fixed shape (docs/agent.md) with its keys in alphabetical order:
/// `address`, `earned` and `spent` come before any nested key of that name; the wallet's are read from
/// its own object (see wallet_field).
std::string json_field(const std::string& json, const std::string& key, std::size_t from = 0) {
  std::string const needle = "\"" + key + "\":";
  auto at = json.find(needle, from);
  if (at == std::string::npos) return "?";
  at += needle.size();
  if (json[at] == '"') return json.substr(at + 1, json.find('"', at + 1) - at - 1);
  return json.substr(at, json.find_first_of(",}]", at) - at);
}

/// A field of the report's `wallet` object (`locked` and `pending` are per-peer keys too).
std::string wallet_field(const std::string& report, const std::string& key) {
  auto const wallet = report.find("\"wallet\":");
  return wallet == std::string::npos ? "?" : json_field(report, key, wallet);
}

/// Each object of the report's per-peer list, as text (compact JSON, no object nested in a peer).
std::vector<std::string> peer_entries(const std::string& report) {
  std::vector<std::string> out;
  std::string const list = "\"peers\":[";
  auto at = report.find(list);
  if (at == std::string::npos) return out;
  for (at += list.size(); at < report.size() && report[at] == '{';) {
    auto const end = report.find('}', at);
    if (end == std::string::npos) break;
    out.push_back(report.substr(at, end - at + 1));
    at = end + 1;
    if (at < report.size() && report[at] == ',') ++at;
  }
  return out;
}

/// One session's torrent and payments, until `done` says so or a signal stops it.
struct Client {
  swarm::Node node;
  std::unique_ptr<Attachment> payments;
  bool tty = isatty(STDERR_FILENO) != 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  int channels_opening = 0;  ///< channel_opening events seen (each ends in channel_opened or funding_failed)
  int channels_opened = 0;   ///< channel_opened events seen
  int funding_failed = 0;    ///< funding_failed events seen

  void hello(const std::string& torrent, const std::string& magnet = "") const {
    std::printf(R"({"listen":"127.0.0.1:%d","address":"%s","torrent":"%s"%s%s%s})"
                "\n",
                node.session->listen_port(), payments->address().c_str(), torrent.c_str(),
                magnet.empty() ? "" : R"(,"magnet":")", magnet.c_str(), magnet.empty() ? "" : "\"");
    std::fflush(stdout);
  }

  /// Drains alerts and events, with progress twice a second.
  void poll(std::chrono::steady_clock::time_point& next_progress) {
    node.session->wait_for_alert(lt::milliseconds(100));
    std::vector<lt::alert*> alerts;
    node.session->pop_alerts(&alerts);
    while (auto event = payments->next_event_json()) {
      std::fprintf(stderr, "%sevent: %s\n", tty ? "\r\x1b[K" : "", event->c_str());
      auto const type = json_field(*event, "type");
      if (type == "channel_opening") ++channels_opening;
      if (type == "channel_opened") ++channels_opened;
      if (type == "funding_failed") ++funding_failed;
    }
    if (std::chrono::steady_clock::now() < next_progress) return;
    next_progress = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    auto const& c = payments->counters();
    auto const status = node.torrent.status(lt::torrent_handle::status_flags_t{});
    int const pieces = node.torrent.torrent_file() ? node.torrent.torrent_file()->num_pieces() : 0;
    if (!tty) {
      std::fprintf(stderr, "progress: have=%d/%d paid=%llu unpaid=%llu served_paid=%llu served_free=%llu\n",
                   status.num_pieces, pieces, (unsigned long long)c.pieces_paid, (unsigned long long)c.pieces_unpaid,
                   (unsigned long long)c.pieces_served_paid, (unsigned long long)c.pieces_served_free);
      return;
    }
    // A bar on a terminal, redrawn in place.
    constexpr int kWidth = 30;
    int const filled = pieces > 0 ? status.num_pieces * kWidth / pieces : 0;
    std::string const bar = std::string(static_cast<std::size_t>(filled), '#') +
                            std::string(static_cast<std::size_t>(kWidth - filled), '.');
    std::fprintf(stderr,
                 "\r\x1b[K[%s] %d/%d pieces  down %.1f MiB/s  up %.1f MiB/s  peers %d  paid %llu  served %llu paid, "
                 "%llu free",
                 bar.c_str(), status.num_pieces, pieces, status.download_payload_rate / 1048576.0,
                 status.upload_payload_rate / 1048576.0, status.num_peers, (unsigned long long)c.pieces_paid,
                 (unsigned long long)c.pieces_served_paid, (unsigned long long)c.pieces_served_free);
  }

  /// The `summary:` line (stderr) and the report (stdout), then the agent stops.
  void finish() {
    std::string const report = payments->report_json();
    auto const& c = payments->counters();
    double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto const status = node.torrent.status(lt::torrent_handle::status_flags_t{});
    int const pieces = node.torrent.torrent_file() ? node.torrent.torrent_file()->num_pieces() : 0;
    std::fprintf(stderr,
                 "%ssummary: %.1f s, have %d/%d pieces; paid %s for %llu pieces, earned %s for %llu pieces served "
                 "(%llu free); wallet: withdrawable %s, locked %s, pending %s, tokens %s\n",
                 tty ? "\r\x1b[K" : "", secs, status.num_pieces, pieces, json_field(report, "spent").c_str(),
                 (unsigned long long)c.pieces_paid, json_field(report, "earned").c_str(),
                 (unsigned long long)c.pieces_served_paid, (unsigned long long)c.pieces_served_free,
                 wallet_field(report, "withdrawable").c_str(), wallet_field(report, "locked").c_str(),
                 wallet_field(report, "pending").c_str(), wallet_field(report, "tokens").c_str());
    std::printf("%s\n", report.c_str());
    std::fflush(stdout);
    payments->stop();
  }
};

/// What serve seeds: --file PATH, --torrent FILE (data under dir), or a generated torrent.
swarm::Fixture served(const Args& a, const fs::path& dir) {
  int const sources = int(a.has("file")) + int(a.has("torrent")) + int(a.has("size-kib"));
  if (sources > 1) throw UsageError("--file, --torrent and --size-kib are alternatives");
  if (a.has("torrent")) {
    if (a.has("piece-kib")) throw UsageError("--piece-kib is the torrent's own with --torrent");
    auto info = load_torrent(a.str("torrent", ""));
    return swarm::Fixture{dir, info->name(), std::move(info)};
  }
  if (!a.has("file")) return seed_fixture(a, dir, "served.bin", 0x5e77e);
  fs::path const file = a.str("file", "");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) == 0)
    throw UsageError("--file " + file.string() + ": not a non-empty regular file");
  auto const piece_kib = a.num("piece-kib", 0, 1u << 16);  // 0: libtorrent's choice for the size
  if (piece_kib != 0 && (piece_kib < 16 || (piece_kib & (piece_kib - 1)) != 0))
    throw UsageError("--piece-kib must be a power of two >= 16");
  fs::path const data = fs::absolute(file).parent_path();
  lt::file_storage files;
  lt::add_files(files, fs::absolute(file).string());
  lt::create_torrent t(files, static_cast<int>(piece_kib * 1024), lt::create_torrent::v1_only);
  lt::set_piece_hashes(t, data.string());
  std::vector<char> buf;
  lt::bencode(std::back_inserter(buf), t.generate());
  fs::create_directories(dir);
  fs::path const out = dir / (file.filename().string() + ".torrent");
  std::ofstream(out, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
  return swarm::Fixture{data, file.filename().string(), std::make_shared<const lt::torrent_info>(out.string())};
}

/// --torrent FILE or --magnet URI, and every --peer.
struct Wanted {
  lt::add_torrent_params atp;
  std::string name;  ///< what hello prints
  std::vector<lt::tcp::endpoint> peers;
};

Wanted wanted(const Args& a) {
  if (a.has("torrent") == a.has("magnet")) throw UsageError("one of --torrent FILE and --magnet URI is required");
  Wanted w;
  if (a.has("torrent")) {
    w.name = a.str("torrent", "");
    w.atp.ti = std::make_shared<lt::torrent_info>(*load_torrent(w.name));
  } else {
    w.name = a.str("magnet", "");
    lt::error_code ec;
    w.atp = lt::parse_magnet_uri(w.name, ec);
    if (ec) throw UsageError("--magnet " + w.name + ": " + ec.message());
  }
  for (auto const& p : a.list("peer")) w.peers.push_back(parse_endpoint(p, "--peer"));
  if (w.peers.empty() && w.atp.peers.empty())
    throw UsageError("--peer HOST:PORT is required (no tracker or DHT here; a magnet link may carry x.pe peers)");
  return w;
}

/// An agent without a torrent, for the wallet commands: a session that listens nowhere.
struct Offline {
  lt::session session;
  std::unique_ptr<Attachment> payments;

  explicit Offline(const Args& a) : session(offline_settings()), payments(attach_from(session, a)) {}

  static lt::session_params offline_settings() {
    lt::settings_pack s = swarm::loopback_settings();
    s.set_str(lt::settings_pack::listen_interfaces, "");
    return lt::session_params(std::move(s), {});
  }
};

/// How many channels `report` pays on are in `state` (open, closing, closed).
int payer_channels(const std::string& report, const std::string& state) {
  int n = 0;
  for (auto const& p : peer_entries(report))
    if (json_field(p, "role") == "payer" && json_field(p, "state") == state) ++n;
  return n;
}

/// Channels the agent pays on that are not closed on chain yet.
int unclosed(const std::string& report) { return payer_channels(report, "open") + payer_channels(report, "closing"); }

}  // namespace

const std::set<std::string> kServeOptions = {"config", "password-env", "size-kib", "piece-kib",
                                             "dir",    "file",         "torrent"};
const std::set<std::string> kDownloadOptions = {"config", "password-env", "torrent",  "magnet",   "peer",
                                                "dir",    "close",        "rate-kib", "linger-s", "timeout-s"};
const std::set<std::string> kBalanceOptions = {"config", "password-env", "json"};
const std::set<std::string> kWithdrawOptions = {"config", "password-env", "to", "amount"};
const std::set<std::string> kCloseOptions = {"config", "password-env", "wait-s"};

int serve(const Args& a) {
  fs::path const dir = a.str("dir", (fs::temp_directory_path() / "piecepay-torrent-serve").string());
  auto const fx = served(a, dir);
  std::string const torrent = a.has("torrent") ? a.str("torrent", "")
                              : a.has("file")  ? (dir / (fx.name + ".torrent")).string()
                                               : (fx.dir / (fx.name + ".torrent")).string();
  install_stop_signals();
  // A generated torrent is known complete; given files are checked first. Payments are attached before the
  // torrent is added, so that they cover every connection from the first.
  bool const generated = !a.has("torrent") && !a.has("file");
  Client c;
  auto const before_torrent = [&](lt::session& session) {
    // A buyer that finished closes its channel cooperatively, with this seller connected: libtorrent would
    // drop a connection between two seeds at once.
    lt::settings_pack keep;
    keep.set_bool(lt::settings_pack::close_redundant_connections, false);
    session.apply_settings(std::move(keep));
    c.payments = attach_from(session, a);
  };
  if (generated) {
    c.node = swarm::make_seeder(fx, std::nullopt, /*seed_mode=*/true, /*pex=*/false, before_torrent);
  } else {
    // Added as a download of data that is all there: checked first, seeding once complete (checked here,
    // not inside the swarm helper, so that the payments stop before the session goes).
    lt::add_torrent_params atp;
    atp.ti = std::make_shared<lt::torrent_info>(*fx.info);
    c.node = swarm::make_leecher("seeder", std::move(atp), fx.dir, std::nullopt, before_torrent);
    if (!swarm::wait_finished(c.node, std::chrono::seconds(120)))
      throw std::runtime_error("the files under " + fx.dir.string() + " do not match the torrent " + fx.name);
  }
  c.hello(torrent, lt::make_magnet_uri(*fx.info));
  auto next = std::chrono::steady_clock::now();
  while (!g_stop.load()) c.poll(next);
  c.finish();
  return 0;
}

int download(const Args& a) {
  Wanted w = wanted(a);
  std::string const close = a.str("close", "no");
  if (close != "yes" && close != "no") throw UsageError("--close wants yes or no");
  auto const timeout = std::chrono::seconds(a.num("timeout-s", 120, 86400));
  auto const linger = std::chrono::seconds(a.num("linger-s", 0, 86400));
  fs::path const dir = a.str("dir", (fs::temp_directory_path() / "piecepay-torrent-download").string());
  install_stop_signals();
  Client c;
  c.node =
      swarm::make_leecher("downloader", std::move(w.atp), dir / "download", std::nullopt, [&](lt::session& session) {
        if (a.has("rate-kib")) {
          // Peers on 127.0.0.1 are in libtorrent's local peer class, which the session's rate limit skips.
          lt::peer_class_info local = session.get_peer_class(lt::session::local_peer_class_id);
          local.download_limit = static_cast<int>(a.num("rate-kib", 0, 1u << 20) * 1024);
          session.set_peer_class(lt::session::local_peer_class_id, local);
        }
        // The last receipts and the cooperative close need the sellers connected once complete (serve keeps
        // its buyers too): libtorrent would drop a connection between two seeds at once.
        lt::settings_pack keep;
        keep.set_bool(lt::settings_pack::close_redundant_connections, false);
        session.apply_settings(std::move(keep));
        // Before the torrent is added, so that payments cover every connection from the first.
        c.payments = attach_from(session, a);
      });
  c.hello(w.name);
  for (auto const& peer : w.peers) c.node.torrent.connect_peer(peer);
  auto const deadline = std::chrono::steady_clock::now() + timeout;
  auto next = std::chrono::steady_clock::now();
  auto const complete = [&] { return c.node.torrent.status(lt::torrent_handle::status_flags_t{}).is_seeding; };
  while (!g_stop.load() && !complete() && std::chrono::steady_clock::now() < deadline) c.poll(next);
  bool ok = complete();
  std::fprintf(stderr, "%sdownload: %s\n", c.tty ? "\r\x1b[K" : "", ok ? "complete" : "incomplete");
  // Seed on for --linger-s before closing: the sellers hand their receipts to a relayer meanwhile, which
  // settles them in its batches; a close right away settles each channel by itself instead.
  auto const linger_end = std::chrono::steady_clock::now() + linger;
  while (ok && !g_stop.load() && std::chrono::steady_clock::now() < linger_end) c.poll(next);
  // The last pieces are paid (and acknowledged) before the close or the exit: leaving with them unpaid
  // would stiff the sellers of what their credit window gave.
  while (ok && !g_stop.load() && c.payments->payments_due() && std::chrono::steady_clock::now() < deadline)
    c.poll(next);
  if (ok && close == "yes") {
    c.payments->close_all();
    int asked = c.channels_opened;
    // Every channel closed on chain, not only asked to close; one whose open was still on its way at the
    // close_all (a seller that served nothing yet) is closed once it is open.
    while (!g_stop.load() && unclosed(c.payments->report_json()) > 0 && std::chrono::steady_clock::now() < deadline) {
      c.poll(next);
      if (c.channels_opened > asked) {
        asked = c.channels_opened;
        c.payments->close_all();
      }
    }
    ok = unclosed(c.payments->report_json()) == 0;
    std::fprintf(stderr, "%sdownload: channels %s\n", c.tty ? "\r\x1b[K" : "", ok ? "closed" : "not closed");
  }
  c.finish();
  return ok ? 0 : 1;
}

int balance(const Args& a) {
  std::string const json = a.str("json", "no");
  if (json != "yes" && json != "no") throw UsageError("--json wants yes or no");
  Offline o(a);
  std::string const report = o.payments->report_json();
  o.payments->stop();
  if (json == "yes") {
    std::printf("%s\n", report.c_str());
    return 0;
  }
  std::printf("balance: address=%s tokens=%s withdrawable=%s locked=%s pending=%s spent=%s earned=%s\n",
              json_field(report, "address").c_str(), wallet_field(report, "tokens").c_str(),
              wallet_field(report, "withdrawable").c_str(), wallet_field(report, "locked").c_str(),
              wallet_field(report, "pending").c_str(), json_field(report, "spent").c_str(),
              json_field(report, "earned").c_str());
  for (auto const& p : peer_entries(report))
    std::printf("channel: %s role=%s peer=%s state=%s deposit=%s paid=%s settled=%s locked=%s\n",
                json_field(p, "channel_id").c_str(), json_field(p, "role").c_str(), json_field(p, "peer").c_str(),
                json_field(p, "state").c_str(), json_field(p, "deposit").c_str(), json_field(p, "paid").c_str(),
                json_field(p, "settled").c_str(), json_field(p, "locked").c_str());
  return 0;
}

int withdraw(const Args& a) {
  std::string const to = a.has("to") ? address_arg(a, "to", "") : "";
  std::string const amount = a.has("amount") ? a.amount("amount", "") : "";
  Offline o(a);
  std::string const tx = o.payments->withdraw(to, amount);
  std::string withdrawn = amount;  // all: what the agent read from the chain, in its `withdrawn` event
  while (auto event = o.payments->next_event_json())
    if (json_field(*event, "type") == "withdrawn") withdrawn = json_field(*event, "amount");
  std::printf("withdrawn: amount=%s to=%s tx=%s\n", withdrawn.c_str(),
              to.empty() ? o.payments->address().c_str() : to.c_str(), tx.c_str());
  o.payments->stop();
  return 0;
}

int close(const Args& a) {
  auto const wait = std::chrono::seconds(a.num("wait-s", 60, 86400));
  Offline o(a);
  install_stop_signals();
  int const open = payer_channels(o.payments->report_json(), "open");
  o.payments->close_all();
  // Done once the chain shows each one closing or closed (the agent's chain watch says so by an event).
  auto const deadline = std::chrono::steady_clock::now() + wait;
  int seen = 0;
  while (seen < open && !g_stop.load() && std::chrono::steady_clock::now() < deadline) {
    while (auto event = o.payments->next_event_json()) {
      std::fprintf(stderr, "event: %s\n", event->c_str());
      auto const type = json_field(*event, "type");
      if ((type == "close_requested" || type == "channel_closed") && json_field(*event, "role") == "payer") ++seen;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // no alert to wait on: the agent's pace
  }
  std::string const report = o.payments->report_json();
  std::printf("close: open=%d closing=%d closed=%d\n", payer_channels(report, "open"),
              payer_channels(report, "closing"), payer_channels(report, "closed"));
  o.payments->stop();
  return seen >= open ? 0 : 1;
}

}  // namespace piecepay::torrent::cli
