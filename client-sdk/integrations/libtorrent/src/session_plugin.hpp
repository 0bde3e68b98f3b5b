// The session plugin both ways of adding payments share (the caller-configured Extension and the
// agent-driven attach): it joins every torrent of a session — those added later through new_torrent,
// those already in it on its first tick — and, while the session sells, takes libtorrent's choker over
// and gives the upload slots out by bid (choker.hpp, README "Upload slots"). Network thread only.
#pragma once

#include <libtorrent/extensions.hpp>
#include <libtorrent/session_handle.hpp>
#include <libtorrent/torrent_handle.hpp>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <set>

#include "choker.hpp"
#include "lent_settings.hpp"

namespace piecepay::torrent {

class SessionPlugin final : public libtorrent::plugin {
 public:
  /// The torrent plugin for one torrent of the session.
  using Join = std::function<std::shared_ptr<libtorrent::torrent_plugin>(libtorrent::torrent_handle const&)>;
  /// The choker while the session sells, null when it does not (or no longer does: the host's choker
  /// settings are then given back).
  using Selling = std::function<std::shared_ptr<Choker>()>;

  SessionPlugin(Join join, Selling selling, std::uint8_t reserved_percent)
      : join_(std::move(join)), selling_(std::move(selling)), reserved_percent_(reserved_percent) {}

  libtorrent::feature_flags_t implemented_features() override { return libtorrent::plugin::tick_feature; }
  void added(libtorrent::session_handle const& session) override { session_ = session; }
  std::shared_ptr<libtorrent::torrent_plugin> new_torrent(libtorrent::torrent_handle const& handle,
                                                          libtorrent::client_data_t) override;
  void on_tick() override;

  /// Ready once the plugin has joined the torrents that were in the session when it was added (on its
  /// first tick); broken if the session goes away first.
  std::shared_future<void> started() const { return started_future_; }

 private:
  void start();
  SlotPolicy slot_policy();
  void give_back();

  Join join_;
  Selling selling_;
  std::uint8_t reserved_percent_;
  libtorrent::session_handle session_;
  bool started_ = false;
  std::promise<void> started_promise_;
  std::shared_future<void> started_future_ = started_promise_.get_future().share();
  std::set<libtorrent::torrent_handle> joined_;  ///< torrents joined through new_torrent before the first tick
  // While the session sells: libtorrent's choker off, the host's slots ours to give out (slot_policy).
  LentSetting slots_{libtorrent::settings_pack::unchoke_slots_limit};
  LentSetting algorithm_{libtorrent::settings_pack::choking_algorithm};
};

}  // namespace piecepay::torrent
