// Unit tests of the parts without a peer: message framing, piece counting, the choker (over fake
// connections), the bench's statistics, how attach reports an agent that does not start and the session
// settings it lends payments (on real sessions).
#include <piecepay.h>

#include <libtorrent/session.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../demo/bench_stats.hpp"
#include "check.hpp"
#include "choker.hpp"
#include "frame.hpp"
#include "lent_settings.hpp"
#include "peek.hpp"
#include "piecepay_torrent/attach.hpp"
#include "swarm.hpp"
#include "tally.hpp"

namespace lt = libtorrent;
using namespace piecepay::torrent;
using namespace std::chrono_literals;

namespace {

/// A connection as the choker sees it, with its state set by the test.
struct FakePeer final : SlotPeer {
  bool wants = true;
  std::uint64_t price = 0;
  std::uint64_t received = 0;
  bool is_choked = true;
  int chokes = 0;
  bool wants_slot() const override { return wants; }
  PiecepayAmount bid() const override { return PiecepayAmount{price, 0}; }
  std::uint64_t take_received() override { return std::exchange(received, 0); }
  bool choked() const override { return is_choked; }
  void choke() override {
    is_choked = true;
    ++chokes;
  }
  void unchoke() override { is_choked = false; }
};

/// Fake peers registered with `choker`, in order, bidding `prices` (0: does not pay).
std::vector<std::shared_ptr<FakePeer>> peers(Choker& choker, std::vector<std::uint64_t> prices) {
  std::vector<std::shared_ptr<FakePeer>> out;
  for (std::uint64_t price : prices) {
    out.push_back(std::make_shared<FakePeer>());
    out.back()->price = price;
    choker.add(out.back());
  }
  return out;
}

std::vector<int> unchoked(const std::vector<std::shared_ptr<FakePeer>>& ps) {
  std::vector<int> out;
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (!ps[i]->is_choked) out.push_back(static_cast<int>(i));
  return out;
}

void set_int(lt::session& ses, int name, int value) {
  lt::settings_pack pack;
  pack.set_int(name, value);
  ses.apply_settings(std::move(pack));
}

int hashing_threads(lt::session& ses) { return ses.get_settings().get_int(lt::settings_pack::hashing_threads); }

SlotPolicy policy(int slots, int optimistic, std::uint8_t reserved_percent) {
  SlotPolicy p;
  p.slots = slots;
  p.optimistic = optimistic;
  p.optimistic_interval = 30s;
  p.reserved_percent = reserved_percent;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  return check::run(
      {
          {"attach_error_is_one_line_with_its_code_once",
           [] {
             lt::session ses(swarm::loopback_settings());
             std::string const missing = "/nonexistent/piecepay-agent.toml";
             try {
               attach(ses, missing);
               CHECK(false);
             } catch (AttachError const& e) {
               // The C ABI's message names the file; the code goes in front of it once.
               std::string const message = piecepay_last_error_message();
               CHECK(e.code == "config");
               CHECK(e.what() == "error[config]: " + message);
               CHECK(message.rfind("config " + missing + ": cannot read it", 0) == 0);
             }
             AttachOptions options;
             options.reserved_percent = 101;
             try {
               attach(ses, missing, nullptr, options);
               CHECK(false);
             } catch (AttachError const& e) {
               CHECK(e.code == "invalid_policy");
               CHECK(std::string(e.what()) == "error[invalid_policy]: reserved_percent above 100");
             }
           }},
          // What attach does to a real session once the plugin joined, and Attachment::stop undoes.
          {"hashing_threads_raised_to_one_per_core_and_given_back",
           [] {
             int const cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
             lt::session ses(swarm::loopback_settings());
             set_int(ses, lt::settings_pack::hashing_threads, 1);  // libtorrent's default
             HashingThreads threads(ses);
             threads.raise();
             CHECK(hashing_threads(ses) == cores);
             threads.give_back();
             CHECK(hashing_threads(ses) == 1);
           }},
          {"hashing_threads_keep_a_higher_host_value",
           [] {
             int const more = static_cast<int>(std::thread::hardware_concurrency()) + 3;
             lt::session ses(swarm::loopback_settings());
             set_int(ses, lt::settings_pack::hashing_threads, more);
             HashingThreads threads(ses);
             threads.raise();
             CHECK(hashing_threads(ses) == more);
             threads.give_back();
             CHECK(hashing_threads(ses) == more);
           }},
          {"hashing_threads_the_host_set_meanwhile_stay",
           [] {
             int const cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
             lt::session ses(swarm::loopback_settings());
             set_int(ses, lt::settings_pack::hashing_threads, 1);
             HashingThreads threads(ses);
             threads.raise();
             set_int(ses, lt::settings_pack::hashing_threads, cores + 5);  // the host's choice
             threads.give_back();
             CHECK(hashing_threads(ses) == cores + 5);
           }},
          {"hashing_threads_given_back_after_the_session_is_gone",
           [] {
             auto ses = std::make_unique<lt::session>(swarm::loopback_settings());
             HashingThreads threads(*ses);
             threads.raise();
             ses.reset();
             threads.give_back();  // nothing to give back to, and no throw
           }},
          // The choker's settings (session_plugin.cpp): lent every tick, a host change heard and kept.
          {"lent_setting_hears_the_host_and_gives_back_its_latest_value",
           [] {
             int const name = lt::settings_pack::unchoke_slots_limit;
             LentSetting slots(name);
             lt::settings_pack now, out;
             now.set_int(name, 8);
             CHECK(slots.lend(now, -1, out) && out.get_int(name) == -1 && slots.host() == 8);
             now.set_int(name, -1);
             lt::settings_pack unchanged;
             CHECK(!slots.lend(now, -1, unchanged) && !unchanged.has_val(name) && slots.host() == 8);
             now.set_int(name, 3);  // the host's preferences, set while lent
             CHECK(slots.lend(now, -1, out) && slots.host() == 3);
             now.set_int(name, -1);
             lt::settings_pack back;
             CHECK(slots.give_back(now, back) && back.get_int(name) == 3 && !slots.lent());
             CHECK(!slots.give_back(now, back));  // once
             slots.lend(now, -1, out);            // found -1: the host's, nothing written, nothing to give back
             lt::settings_pack none;
             CHECK(!slots.give_back(now, none) && !none.has_val(name));
           }},
          {"extended_frame_layout",
           [] {
             std::string const m = frame::extended(7, "d1:ai1ee");
             CHECK(m.size() == 6 + 8);
             CHECK(frame::get_u32(m.data()) == 2 + 8);
             CHECK(m[4] == 20 && m[5] == 7);
             CHECK(m.substr(6) == "d1:ai1ee");
           }},
          {"peek_type_is_the_messages_t_field",
           [] {
             // What the plugin counts as a receipt sent (Counters::receipts_sent).
             CHECK(peek::type_is("d4:salti7e1:t7:receipte", "receipt"));
             CHECK(!peek::type_is("d1:t11:receipt_acke", "receipt"));
             CHECK(!peek::type_is("d1:t5:termse", "receipt"));
             CHECK(!peek::type_is("d1:ti7ee", "receipt"));
             CHECK(!peek::type_is("not bencode", "receipt"));
           }},
          {"reject_frame_layout",
           [] {
             auto const r = frame::reject(3, 16384, 16384);
             CHECK(frame::get_u32(r.data()) == 13);
             CHECK(r[4] == 16);
             CHECK(frame::get_u32(r.data() + 5) == 3);
             CHECK(frame::get_u32(r.data() + 9) == 16384);
             CHECK(frame::get_u32(r.data() + 13) == 16384);
           }},
          {"fast_bit",
           [] {
             CHECK(frame::supports_fast(std::string("\0\0\0\0\0\x10\0\x04", 8)));
             CHECK(!frame::supports_fast(std::string("\0\0\0\0\0\x10\0\x01", 8)));
             CHECK(!frame::supports_fast("short"));
           }},
          {"bench_median_odd_even_and_empty",
           [] {
             CHECK(stats::median({3, 1, 2}) == 2);
             CHECK(stats::median({4, 1, 3, 2}) == 2.5);
             bool threw = false;
             try {
               stats::median({});
             } catch (std::invalid_argument const&) {
               threw = true;
             }
             CHECK(threw);
           }},
          {"bench_ratio_interval",
           [] {
             // Every round alike: the interval is the ratio itself.
             auto const same = stats::median_ratio_ci95({98, 98, 98}, {100, 100, 100});
             CHECK(same.first == 0.98 && same.second == 0.98);
             // Spread rounds: the interval holds the point estimate, and is seeded (repeatable).
             std::vector<double> const paid{190, 205, 199, 214, 201, 187, 220, 203};
             std::vector<double> const free{208, 199, 211, 204, 222, 196, 209, 215};
             double const r = stats::median_ratio(paid, free);
             auto const ci = stats::median_ratio_ci95(paid, free);
             CHECK(ci.first < r && r < ci.second);
             CHECK(ci.first > 0.85 && ci.second < 1.1);
             CHECK(stats::median_ratio_ci95(paid, free) == ci);
             bool threw = false;
             try {
               stats::median_ratio_ci95({1, 2}, {1});
             } catch (std::invalid_argument const&) {
               threw = true;
             }
             CHECK(threw);
           }},
          {"geometry_last_piece_short",
           [] {
             PieceGeometry const g{100, 40, 3};
             CHECK(g.size(0) == 40 && g.size(1) == 40 && g.size(2) == 20);
             CHECK(g.size(3) == 0 && g.size(-1) == 0);
           }},
          {"tally_counts_a_piece_once",
           [] {
             PieceTally t(PieceGeometry{100, 40, 3});
             CHECK(!t.partial());
             CHECK(!t.add(0, 20));
             CHECK(t.partial());
             CHECK(t.add(0, 20));
             CHECK(!t.partial());
             CHECK(!t.add(0, 20));  // end-game duplicate after completion
             CHECK(t.add(2, 20));   // short last piece
             CHECK(!t.add(5, 20));  // out of range
             CHECK(!t.add(1, 0));
             CHECK(t.complete(0) && !t.complete(1));
           }},
          {"backlog_admits_requests_for_at_most_the_allowance_of_open_pieces",
           [] {
             Backlog b;
             CHECK(!b.admit(0, 0));                  // nothing allowed
             CHECK(b.admit(0, 2) && b.admit(0, 2));  // more blocks of an open piece
             CHECK(b.admit(1, 2));
             CHECK(!b.admit(2, 2));  // a third piece while two are on their way
             CHECK(b.admit(1, 1));   // an open piece is already counted, even when the allowance shrank
             b.close(0);             // went out whole: charged, the allowance is one less
             CHECK(!b.admit(2, 1));
             b.close(1);  // the peer has it (got it elsewhere)
             CHECK(b.admit(2, 1) && b.open() == 1);
           }},
          {"ledger_pays_the_whole_supplier_once",
           [] {
             PieceLedger<int> l(PieceGeometry{100, 40, 3});
             l.add(1, 0, 20);
             l.add(1, 0, 20);
             CHECK(l.on_pass(0) == 1);
             l.add(2, 0, 40);  // end-game duplicate after the pass: ignored
             CHECK(l.pending() == 0);
             CHECK(l.on_pass(1) == 0);  // no block seen (already on disk): nobody to pay
           }},
          {"ledger_pays_a_split_piece_to_its_main_supplier",
           [] {
             PieceLedger<int> l(PieceGeometry{100, 40, 3});
             l.add(1, 0, 10);
             l.add(2, 0, 30);
             CHECK(l.on_pass(0) == 2);
             l.add(3, 1, 20);  // equal shares: the first supplier
             l.add(4, 1, 20);
             CHECK(l.on_pass(1) == 3);
             l.add(5, 2, 20);  // the short last piece
             CHECK(l.on_pass(2) == 5);
           }},
          {"ledger_forgets_a_failed_piece",
           [] {
             PieceLedger<int> l(PieceGeometry{100, 40, 3});
             l.add(1, 0, 40);  // bad data from 1
             l.on_fail(0);
             l.add(2, 0, 40);  // downloaded again from 2
             CHECK(l.on_pass(0) == 2);
             l.add(1, 7, 40);  // outside the torrent
             CHECK(l.pending() == 0);
             CHECK(l.on_pass(7) == 0);
           }},
          {"choker_serves_everyone_until_it_ranks",
           [] {
             Choker c;
             auto ps = peers(c, {0, 0});
             CHECK(c.holds(*ps[0]) && c.offer(*ps[1]));
           }},
          {"choker_gives_slots_to_the_highest_bids_and_keeps_a_share_for_free_peers",
           [] {
             Choker c;
             auto ps = peers(c, {10, 30, 20, 0, 0});
             ps[3]->received = 500;  // free, gives back the most
             ps[4]->received = 100;  // free
             ps[0]->is_choked = false;
             auto const t0 = Choker::Clock::now();
             c.rank(policy(3, 0, 20), t0);  // one of three slots kept for free peers
             CHECK((unchoked(ps) == std::vector<int>{1, 2, 3}));
             CHECK(ps[0]->chokes == 1);
             CHECK(c.holds(*ps[1]) && !c.holds(*ps[0]));
             // No free peer wants a slot: all three go by bid.
             ps[3]->wants = ps[4]->wants = false;
             c.rank(policy(3, 0, 20), t0 + 1s);
             CHECK((unchoked(ps) == std::vector<int>{0, 1, 2}));
           }},
          {"choker_rotates_the_optimistic_unchoke_longest_waiting_first",
           [] {
             Choker c;
             auto ps = peers(c, {40, 10, 20, 30});
             SlotPolicy p = policy(1, 1, 0);
             p.optimistic_interval = 2s;
             auto const t0 = Choker::Clock::now();
             // Peer 0 holds the slot; among the others, never unchoked, the highest bid goes first.
             c.rank(p, t0);
             CHECK((unchoked(ps) == std::vector<int>{0, 3}));
             c.rank(p, t0 + 1s);  // the turn lasts the interval
             CHECK((unchoked(ps) == std::vector<int>{0, 3}));
             c.rank(p, t0 + 2s);
             CHECK((unchoked(ps) == std::vector<int>{0, 2}));
             c.rank(p, t0 + 4s);
             CHECK((unchoked(ps) == std::vector<int>{0, 1}));
             c.rank(p, t0 + 6s);  // everyone had a turn: the one that waited longest
             CHECK((unchoked(ps) == std::vector<int>{0, 3}));
             // An optimistic peer that stops wanting loses its turn at once.
             ps[3]->wants = false;
             c.rank(p, t0 + 7s);
             CHECK((unchoked(ps) == std::vector<int>{0, 2}));
           }},
          {"choker_offers_only_free_ranked_slots",
           [] {
             Choker c;
             auto ps = peers(c, {0, 0, 0});
             ps[2]->wants = false;
             auto const t0 = Choker::Clock::now();
             c.rank(policy(2, 0, 0), t0);
             CHECK((unchoked(ps) == std::vector<int>{0, 1}));
             CHECK(!c.offer(*ps[2]));  // does not want one
             ps[2]->wants = true;
             CHECK(!c.offer(*ps[2]));  // both slots in use
             ps[1]->wants = false;     // e.g. over its credit until its receipt comes
             CHECK(c.offer(*ps[2]) && c.holds(*ps[2]));
           }},
          {"choker_without_a_slot_limit_serves_everyone_who_wants",
           [] {
             Choker c;
             auto ps = peers(c, {0, 0, 0});
             ps[1]->wants = false;
             c.rank(policy(-1, 1, 20), Choker::Clock::now());
             CHECK((unchoked(ps) == std::vector<int>{0, 2}));
             ps[1]->wants = true;
             CHECK(c.offer(*ps[1]));
           }},
          {"choker_forgets_closed_connections",
           [] {
             Choker c;
             auto ps = peers(c, {0, 0});
             c.rank(policy(1, 0, 0), Choker::Clock::now());
             CHECK((unchoked(ps) == std::vector<int>{0}));
             ps.erase(ps.begin());  // peer 0's connection is gone
             c.rank(policy(1, 0, 0), Choker::Clock::now());
             CHECK(!ps[0]->is_choked);
           }},
      },
      argc, argv);
}
