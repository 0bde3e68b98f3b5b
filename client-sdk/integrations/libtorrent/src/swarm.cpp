#include "swarm.hpp"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/extensions/ut_metadata.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_status.hpp>

#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace lt = libtorrent;
namespace fs = std::filesystem;

namespace piecepay::torrent::swarm {
namespace {

// xorshift64*: fast, deterministic "real bytes" (incompressible enough that nothing is special-cased).
void fill(std::vector<char>& buf, std::uint64_t& state) {
  for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    std::uint64_t const v = state * 0x2545F4914F6CDD1DULL;
    std::memcpy(buf.data() + i, &v, 8);
  }
}

void write_data(const fs::path& file, std::int64_t size, std::uint64_t seed) {
  fs::path const stamp = file.string() + ".seed";
  if (fs::exists(file) && fs::file_size(file) == static_cast<std::uintmax_t>(size) && fs::exists(stamp)) {
    std::ifstream in(stamp);
    std::uint64_t written = 0;
    if (in >> written && written == seed) return;
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  std::vector<char> buf(1 << 20);
  std::uint64_t state = seed | 1;
  for (std::int64_t left = size; left > 0;) {
    fill(buf, state);
    auto const n = static_cast<std::streamsize>(std::min<std::int64_t>(left, static_cast<std::int64_t>(buf.size())));
    out.write(buf.data(), n);
    left -= n;
  }
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
  std::ofstream(stamp) << seed;
}

}  // namespace

Fixture make_fixture(const fs::path& dir, const std::string& name, std::int64_t size, int piece_size,
                     std::uint64_t seed) {
  fs::create_directories(dir);
  write_data(dir / name, size, seed);
  lt::file_storage files;
  lt::add_files(files, (dir / name).string());
  // v1 only: SHA-1 piece hashes, understood by every client (transmission 3 has no v2).
  lt::create_torrent ct(files, piece_size, lt::create_torrent::v1_only);
  ct.set_creator("piecepay-torrent");
  lt::set_piece_hashes(ct, dir.string());
  std::vector<char> buf;
  lt::bencode(std::back_inserter(buf), ct.generate());
  std::ofstream(dir / (name + ".torrent"), std::ios::binary)
      .write(buf.data(), static_cast<std::streamsize>(buf.size()));
  return Fixture{dir, name, std::make_shared<const lt::torrent_info>(buf, lt::from_span)};
}

void write_torrent_file(const Fixture& fixture, const std::string& announce_url, const fs::path& out) {
  std::ifstream in(fixture.dir / (fixture.name + ".torrent"), std::ios::binary);
  std::vector<char> const bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // bdecode → entry → bencode keeps the (canonical) info dict byte for byte, so the info-hash holds.
  lt::error_code ec;
  lt::bdecode_node const node = lt::bdecode(bytes, ec);
  if (ec) throw std::runtime_error("cannot read " + fixture.name + ".torrent: " + ec.message());
  lt::entry e;
  e = node;
  e["announce"] = announce_url;
  std::vector<char> buf;
  lt::bencode(std::back_inserter(buf), e);
  std::ofstream(out, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

lt::settings_pack loopback_settings() {
  lt::settings_pack s;
  s.set_str(lt::settings_pack::listen_interfaces, "127.0.0.1:0");
  s.set_str(lt::settings_pack::outgoing_interfaces, "");
  s.set_bool(lt::settings_pack::enable_dht, false);
  s.set_bool(lt::settings_pack::enable_lsd, false);
  s.set_bool(lt::settings_pack::enable_upnp, false);
  s.set_bool(lt::settings_pack::enable_natpmp, false);
  s.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  s.set_bool(lt::settings_pack::enable_incoming_utp, false);
  s.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
  // Plaintext outgoing (no RC4 on a loopback benchmark); incoming encrypted connections are still
  // accepted, which some foreign clients insist on.
  s.set_int(lt::settings_pack::out_enc_policy, lt::settings_pack::pe_disabled);
  s.set_int(lt::settings_pack::in_enc_policy, lt::settings_pack::pe_enabled);
  s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::error);
  return s;
}

lt::tcp::endpoint Node::endpoint() const {
  return lt::tcp::endpoint(lt::make_address("127.0.0.1"), session->listen_port());
}

namespace {

/// A session for `atp`'s torrent (its ti, or a magnet link's info-hash).
Node make_node(const std::string& name, lt::add_torrent_params atp, const fs::path& save_dir,
               const std::optional<Options>& options, lt::torrent_flags_t flags, bool pex,
               const SessionHook& on_session = nullptr) {
  Node node;
  node.name = name;
  // Without pex, no session plugin at all (smart_ban matters only with untrusted peers) and, per
  // torrent, only ut_metadata: metadata for magnet links (BEP 9), no peer discovery.
  lt::session_params params =
      pex ? lt::session_params(loopback_settings()) : lt::session_params(loopback_settings(), {});
  node.session = std::make_unique<lt::session>(std::move(params));
  if (!pex) atp.extensions.push_back(&lt::create_ut_metadata_plugin);
  atp.save_path = save_dir.string();
  atp.flags = flags;
  if (options) {
    node.extension = std::make_unique<Extension>(*options);
    node.session->add_extension(node.extension->plugin());
  }
  if (on_session) on_session(*node.session);
  node.torrent = node.session->add_torrent(std::move(atp));
  bool const listening = wait_until([&] { return node.session->listen_port() != 0; }, std::chrono::seconds(10));
  if (!listening) throw std::runtime_error(name + ": not listening on 127.0.0.1");
  return node;
}

lt::add_torrent_params with_metadata(const Fixture& fixture) {
  lt::add_torrent_params atp;
  atp.ti = std::make_shared<lt::torrent_info>(*fixture.info);
  return atp;
}

}  // namespace

Node make_seeder(const Fixture& fixture, const std::optional<Options>& options, bool seed_mode, bool pex,
                 const SessionHook& on_session) {
  // Not auto-managed and not paused: the torrent starts at once, no queueing.
  lt::torrent_flags_t flags{};
  if (seed_mode) flags |= lt::torrent_flags::seed_mode;
  Node node = make_node("seeder", with_metadata(fixture), fixture.dir, options, flags, pex, on_session);
  if (!seed_mode && !wait_finished(node, std::chrono::seconds(60)))
    throw std::runtime_error("seeder: files did not check complete");
  return node;
}

Node make_leecher(const std::string& name, const Fixture& fixture, const fs::path& save_dir,
                  const std::optional<Options>& options, bool pex) {
  fs::create_directories(save_dir);
  return make_node(name, with_metadata(fixture), save_dir, options, lt::torrent_flags_t{}, pex);
}

Node make_magnet_leecher(const std::string& name, const Fixture& fixture, const fs::path& save_dir,
                         const std::optional<Options>& options) {
  fs::create_directories(save_dir);
  return make_node(name, lt::parse_magnet_uri(lt::make_magnet_uri(*fixture.info)), save_dir, options,
                   lt::torrent_flags_t{}, false);
}

Node make_leecher(const std::string& name, lt::add_torrent_params atp, const fs::path& save_dir,
                  const std::optional<Options>& options, const SessionHook& on_session) {
  fs::create_directories(save_dir);
  return make_node(name, std::move(atp), save_dir, options, lt::torrent_flags_t{}, false, on_session);
}

bool wait_finished(Node& node, std::chrono::milliseconds timeout) {
  auto const deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (node.torrent.status(lt::torrent_handle::status_flags_t{}).is_seeding) return true;
    auto const now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    // Wakes on any alert; a finished torrent posts one, so this is not a blind wait.
    auto const wait = std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(200));
    if (node.session->wait_for_alert(std::chrono::duration_cast<lt::time_duration>(wait)) == nullptr) continue;
    std::vector<lt::alert*> alerts;
    node.session->pop_alerts(&alerts);
    for (lt::alert* a : alerts) {
      if (lt::alert_cast<lt::torrent_finished_alert>(a) != nullptr) return true;
    }
  }
}

const char* TestKeys::payer_key(int i) {
  // anvil's dev accounts 2..9 (public test keys).
  static const char* const keys[] = {
      "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
      "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
      "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
      "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
      "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
      "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
      "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
      "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
  };
  return keys[static_cast<std::size_t>(i) % (sizeof(keys) / sizeof(keys[0]))];
}

std::uint64_t pieces_paid_to(const Node& payee) {
  if (!payee.extension || !payee.extension->options().payee) return 0;
  std::uint64_t const price = std::stoull(payee.extension->options().payee->price);
  std::uint64_t value = 0;
  for (auto const& r : payee.extension->latest_receipts()) value += std::stoull(r.cumulative);
  return price == 0 ? 0 : value / price;
}

Options demo_payee_options(std::uint32_t free_pieces) {
  Options o;
  o.chain = ChainOptions{TestKeys::kChainId, TestKeys::kEscrow, TestKeys::kToken};
  PayeeOptions payee;
  payee.key_hex = TestKeys::kPayeeKey;
  payee.trust_claimed_deposit = true;
  o.payee = payee;
  o.free_pieces = free_pieces;
  return o;
}

Options demo_payer_options(int index) {
  Options o;
  o.chain = ChainOptions{TestKeys::kChainId, TestKeys::kEscrow, TestKeys::kToken};
  PayerOptions payer;
  payer.key_hex = TestKeys::payer_key(index);
  o.payer = payer;
  return o;
}

}  // namespace piecepay::torrent::swarm
