// Unit tests of the pure parts: message framing, piece counting and the bench's statistics.
#include <stdexcept>

#include "../demo/bench_stats.hpp"
#include "check.hpp"
#include "frame.hpp"
#include "tally.hpp"

using namespace piecepay::torrent;

int main(int argc, char** argv) {
  return check::run(
      {
          {"extended_frame_layout",
           [] {
             std::string const m = frame::extended(7, "d1:ai1ee");
             CHECK(m.size() == 6 + 8);
             CHECK(frame::get_u32(m.data()) == 2 + 8);
             CHECK(m[4] == 20 && m[5] == 7);
             CHECK(m.substr(6) == "d1:ai1ee");
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
      },
      argc, argv);
}
