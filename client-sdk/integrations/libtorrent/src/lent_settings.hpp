// Settings of the host's session that payments change while they run and give back when they stop:
// libtorrent's choker (session_plugin.cpp) and its hashing threads (attach, agent_plugin.cpp). One rule
// for all of them: the value found is the host's; ours goes in only where it differs; on stop the host's
// value comes back only while the session still has ours — a value the host set meanwhile is its choice,
// and it stays.
#pragma once

#include <libtorrent/error_code.hpp>
#include <libtorrent/session_handle.hpp>
#include <libtorrent/settings_pack.hpp>

#include <algorithm>
#include <thread>
#include <utility>

namespace piecepay::torrent {

/// One int setting (a libtorrent::settings_pack name) lent to payments.
class LentSetting {
 public:
  explicit LentSetting(int name) : name_(name) {}

  /// Writes `ours` into `out` unless `now` (the session's settings) has it already; returns whether it
  /// wrote. The value found is the host's: the first time, and again whenever the session no longer has
  /// ours (the host set it since). Called again with the same `ours`, it hears such a change.
  bool lend(libtorrent::settings_pack const& now, int ours, libtorrent::settings_pack& out) {
    int const found = now.get_int(name_);
    if (!lent_ || found != ours_) host_ = found;
    ours_ = ours;
    lent_ = true;
    if (found == ours) return false;
    out.set_int(name_, ours);
    return true;
  }

  /// Writes the host's value into `out` if `now` still has ours (and it differs); returns whether it
  /// wrote. Not lent any more either way.
  bool give_back(libtorrent::settings_pack const& now, libtorrent::settings_pack& out) {
    if (!lent_) return false;
    lent_ = false;
    if (now.get_int(name_) != ours_ || host_ == ours_) return false;
    out.set_int(name_, host_);
    return true;
  }

  bool lent() const { return lent_; }
  /// The host's value (meaningful once lent).
  int host() const { return host_; }

 private:
  int name_;
  bool lent_ = false;
  int host_ = 0;
  int ours_ = 0;
};

/// libtorrent's hashing threads while payments run: one per core, or more if the host set more.
///
/// A piece is paid when it passes its hash check, and a seller serves only its credit window ahead of the
/// receipts, so every piece waiting for its hash check holds the seller back. libtorrent hashes on one
/// thread by default; between two deluged on loopback (client-sdk/integrations/deluge/README.md, "Bench")
/// the passed pieces fell 250–400 behind what the seller had sent — more than its 256-piece window — and
/// the seller refused ~1,800 requests over four paid transfers; with one thread per core it refused
/// almost none, and the paid/free ratio went from 0.841 to 0.995 (21 rounds each). libtorrent's own
/// documentation suggests more hashing threads for high download rates.
///
/// From any thread but libtorrent's network thread: reading the session's settings waits for that thread.
class HashingThreads {
 public:
  explicit HashingThreads(libtorrent::session_handle session) : session_(std::move(session)) {}
  HashingThreads(const HashingThreads&) = delete;
  HashingThreads& operator=(const HashingThreads&) = delete;

  void raise() {
    libtorrent::settings_pack const now = session_.get_settings();
    int const cores = static_cast<int>(std::thread::hardware_concurrency());
    int const ours = std::max(now.get_int(libtorrent::settings_pack::hashing_threads), cores);
    libtorrent::settings_pack out;
    if (threads_.lend(now, ours, out)) session_.apply_settings(std::move(out));
  }

  /// Puts the value found back, unless the host changed it since; nothing when the session is gone.
  void give_back() {
    try {
      libtorrent::settings_pack out;
      if (threads_.give_back(session_.get_settings(), out)) session_.apply_settings(std::move(out));
    } catch (libtorrent::system_error const&) {
      // The session was destroyed first (invalid_session_handle): there is nothing to give back to.
    }
  }

 private:
  libtorrent::session_handle session_;
  LentSetting threads_{libtorrent::settings_pack::hashing_threads};
};

}  // namespace piecepay::torrent
