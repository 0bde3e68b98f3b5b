#include "session_plugin.hpp"

#include <libtorrent/settings_pack.hpp>

#include <algorithm>
#include <chrono>

namespace lt = libtorrent;

namespace piecepay::torrent {

std::shared_ptr<lt::torrent_plugin> SessionPlugin::new_torrent(lt::torrent_handle const& handle, lt::client_data_t) {
  if (!started_) joined_.insert(handle);
  return join_(handle);
}

void SessionPlugin::on_tick() {
  if (!started_) start();
  std::shared_ptr<Choker> const choker = selling_();
  if (choker == nullptr) {
    if (slots_.lent()) give_back();
    return;
  }
  choker->rank(slot_policy(), std::chrono::steady_clock::now());
}

// On the network thread, where session calls run inline: join the torrents that were in the session
// before the plugin (later ones come through new_torrent).
void SessionPlugin::start() {
  started_ = true;
  for (lt::torrent_handle& t : session_.get_torrents()) {
    if (joined_.count(t) != 0) continue;
    auto const join = join_;
    t.add_extension([join](lt::torrent_handle const& h, lt::client_data_t) { return join(h); });
  }
  joined_.clear();
  started_promise_.set_value();
}

// libtorrent's choker would give the slots out by its own ranking and fight ours every round, and its
// only hook (get_unchoke_priority) merely breaks ties among optimistic unchokes. So a selling session
// takes it over: unchoke_slots_limit -1 (with the fixed-slots algorithm) switches libtorrent's choker
// off, and the number the host set becomes ours to give out. A host that sets it again later (a
// client's preferences) is heard at the next tick (lent_settings.hpp).
SlotPolicy SessionPlugin::slot_policy() {
  lt::settings_pack const s = session_.get_settings();
  lt::settings_pack ours;
  bool const slots_set = slots_.lend(s, -1, ours);
  bool const algorithm_set = algorithm_.lend(s, lt::settings_pack::fixed_slots_choker, ours);
  if (slots_set || algorithm_set) session_.apply_settings(std::move(ours));
  SlotPolicy policy;
  policy.slots = slots_.host();
  int const optimistic = s.get_int(lt::settings_pack::num_optimistic_unchoke_slots);
  // libtorrent's default: one optimistic unchoke per five slots, at least one (none without slots).
  policy.optimistic = policy.slots == 0 ? 0 : optimistic > 0 ? optimistic : std::max(1, policy.slots / 5);
  policy.optimistic_interval =
      std::chrono::seconds(std::max(1, s.get_int(lt::settings_pack::optimistic_unchoke_interval)));
  policy.reserved_percent = reserved_percent_;
  return policy;
}

// Payments stopped: libtorrent's own choker gets the host's slots back (what the host set since stays).
void SessionPlugin::give_back() {
  lt::settings_pack const s = session_.get_settings();
  lt::settings_pack theirs;
  bool const slots_set = slots_.give_back(s, theirs);
  bool const algorithm_set = algorithm_.give_back(s, theirs);
  if (slots_set || algorithm_set) session_.apply_settings(std::move(theirs));
}

}  // namespace piecepay::torrent
