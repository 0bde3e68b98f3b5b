// Settings of the host's session that payments change while they run and give back when they stop:
// libtorrent's choker (session_plugin.cpp). One rule for all of them: the value found is the host's; ours
// goes in only where it differs; on stop the host's value comes back only while the session still has
// ours — a value the host set meanwhile is its choice, and it stays.
#pragma once

#include <libtorrent/settings_pack.hpp>

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

}  // namespace piecepay::torrent
