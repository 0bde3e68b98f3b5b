// A loopback swarm for the demo, the bench and the tests: a generated multi-piece torrent (real bytes,
// real SHA-1 piece hashes), one seeder session and leecher sessions on 127.0.0.1 with DHT, LSD, UPnP and
// NAT-PMP off and no trackers (peers are added with connect_peer).
#pragma once

#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "piecepay_torrent/plugin.hpp"

namespace piecepay::torrent::swarm {

/// A generated torrent: `name` under `dir`, and its metadata.
struct Fixture {
  std::filesystem::path dir;
  std::string name;
  std::shared_ptr<const libtorrent::torrent_info> info;
};

/// Writes `size` pseudo-random bytes (from `seed`) as `dir/name` and builds a v1 torrent over it with
/// `piece_size`-byte pieces. Reuses an existing file of the right size made from the same seed.
Fixture make_fixture(const std::filesystem::path& dir, const std::string& name, std::int64_t size, int piece_size,
                     std::uint64_t seed);

/// Writes `fixture`'s .torrent with `announce_url` as its tracker to `out` (same info dict, same
/// info-hash), for clients that only find peers through a tracker.
void write_torrent_file(const Fixture& fixture, const std::string& announce_url, const std::filesystem::path& out);

/// Session settings for a loopback-only peer: listen on 127.0.0.1:0, no DHT/LSD/UPnP/NAT-PMP, TCP only,
/// several connections per IP allowed (everyone is 127.0.0.1).
libtorrent::settings_pack loopback_settings();

/// Called with a new session before its torrent is added: payments attached there (attach) cover every
/// connection of the torrent from the first; attached later, the connections open when attach returns
/// stay unpaid.
using SessionHook = std::function<void(libtorrent::session&)>;

/// One session with one torrent.
struct Node {
  std::string name;
  std::unique_ptr<libtorrent::session> session;
  std::unique_ptr<Extension> extension;  ///< null for a stock session
  libtorrent::torrent_handle torrent;

  /// 127.0.0.1 and the port this session listens on.
  libtorrent::tcp::endpoint endpoint() const;
};

/// A seeder of `fixture`, with piecepay `options` (or stock libtorrent when `options` is empty).
/// `seed_mode` trusts the files without hashing them first (bench); otherwise they are checked. `pex`
/// keeps libtorrent's default plugins (peer exchange among them); without it, a session only talks to
/// the peers it is told about.
Node make_seeder(const Fixture& fixture, const std::optional<Options>& options, bool seed_mode = true, bool pex = true,
                 const SessionHook& on_session = nullptr);

/// A leecher of `fixture` downloading into `save_dir` (`pex` as for make_seeder).
Node make_leecher(const std::string& name, const Fixture& fixture, const std::filesystem::path& save_dir,
                  const std::optional<Options>& options, bool pex = true);

/// A leecher of `fixture` added from its magnet link (info-hash only): the metadata comes from peers
/// (BEP 9, ut_metadata), no tracker and no DHT; add peers with connect_peer.
Node make_magnet_leecher(const std::string& name, const Fixture& fixture, const std::filesystem::path& save_dir,
                         const std::optional<Options>& options);

/// A leecher of `atp`'s torrent (a parsed magnet link, or a torrent_info) downloading into `save_dir`,
/// without libtorrent's default plugins but ut_metadata (the metadata of a magnet link comes from peers).
Node make_leecher(const std::string& name, libtorrent::add_torrent_params atp, const std::filesystem::path& save_dir,
                  const std::optional<Options>& options, const SessionHook& on_session = nullptr);

/// Polls `done` until it is true or `timeout` passes (then false). Not a sleep: it returns as soon as the
/// condition holds, checking every `poll`.
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  auto const deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

/// Waits until `node`'s torrent is complete (a torrent_finished_alert or a seeding status); false on
/// timeout. Alerts are drained as they come, so this reacts within milliseconds.
bool wait_finished(Node& node, std::chrono::milliseconds timeout);

/// How many pieces' worth a payee has accepted over all its channels: the highest cumulative of each,
/// summed, over its price (test amounts fit 64 bits). Receipts are verified lazily — one accepted
/// receipt may stand for several — so this, not a count of receipts, says what was paid.
std::uint64_t pieces_paid_to(const Node& payee);

/// Fixed test identities and contract addresses for the demo and the bench: no chain is involved, the
/// receipts they produce are real EIP-712 signatures for this (chain id, escrow) but nothing is funded.
struct TestKeys {
  static constexpr std::uint64_t kChainId = 31337;
  /// Deterministic addresses standing in for a deployed escrow and token (not real deployments).
  static constexpr const char* kEscrow = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
  static constexpr const char* kToken = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
  /// anvil's well-known dev account 1 (payee) and accounts 2.. (payers): public test keys.
  static constexpr const char* kPayeeKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
  static const char* payer_key(int i);
};

/// piecepay options of the demo's seeder (payee) and leechers (payers), over TestKeys.
Options demo_payee_options(std::uint32_t free_pieces);
Options demo_payer_options(int index);

}  // namespace piecepay::torrent::swarm
