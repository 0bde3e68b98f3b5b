// What the one-session commands (seed, leech, serve, download) share: a stop on SIGTERM or SIGINT, the
// generated torrent to seed, and the torrent and peer to download from.
#pragma once

#include <libtorrent/address.hpp>
#include <libtorrent/socket.hpp>
#include <libtorrent/torrent_info.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "args.hpp"
#include "swarm.hpp"

namespace piecepay::torrent::cli {

/// Set by SIGTERM or SIGINT once install_stop_signals ran.
inline std::atomic<bool> g_stop{false};

inline void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop.store(true); };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

/// The torrent to seed: `--size-kib` (default 4 MiB) of `--piece-kib` (default 64) pieces, generated as
/// `name` under `dir`/seed.
inline swarm::Fixture seed_fixture(const Args& a, const std::filesystem::path& dir, const std::string& name,
                                   std::uint64_t seed) {
  auto const size = static_cast<std::int64_t>(a.num("size-kib", 4096, 1u << 22)) * 1024;
  auto const piece_kib = a.num("piece-kib", 64, 1u << 16);
  if (piece_kib < 16 || (piece_kib & (piece_kib - 1)) != 0)
    throw UsageError("--piece-kib must be a power of two >= 16");
  return swarm::make_fixture(dir / "seed", name, size, static_cast<int>(piece_kib * 1024), seed);
}

/// `--torrent FILE` and `--peer HOST:PORT` (a numeric host).
struct Source {
  std::shared_ptr<const libtorrent::torrent_info> info;
  libtorrent::tcp::endpoint peer;
};

/// A `HOST:PORT` peer (a numeric host); `what` names the option in the usage error.
inline libtorrent::tcp::endpoint parse_endpoint(const std::string& peer, const std::string& what) {
  auto const colon = peer.rfind(':');
  if (colon == std::string::npos) throw UsageError(what + " wants HOST:PORT with a numeric host, not " + peer);
  libtorrent::error_code ec;
  auto const address = libtorrent::make_address(peer.substr(0, colon), ec);
  Args port_arg;
  port_arg.kv = {{"port", peer.substr(colon + 1)}};
  auto const port = static_cast<std::uint16_t>(port_arg.num("port", 0, 65535));
  if (ec || port == 0) throw UsageError(what + " wants HOST:PORT with a numeric host, not " + peer);
  return libtorrent::tcp::endpoint(address, port);
}

/// A .torrent file, or a usage error naming it.
inline std::shared_ptr<const libtorrent::torrent_info> load_torrent(const std::string& torrent) {
  libtorrent::error_code ec;
  auto info = std::make_shared<const libtorrent::torrent_info>(torrent, ec);
  if (ec) throw UsageError("--torrent " + torrent + ": " + ec.message());
  return info;
}

inline Source download_source(const Args& a) {
  std::string const torrent = a.str("torrent", "");
  std::string const peer = a.str("peer", "");
  if (torrent.empty() || peer.empty()) throw UsageError("--torrent FILE and --peer HOST:PORT are required");
  return Source{load_torrent(torrent), parse_endpoint(peer, "--peer")};
}

}  // namespace piecepay::torrent::cli
