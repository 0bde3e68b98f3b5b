// Unit tests of the pure parts: message framing and piece counting.
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
          {"geometry_last_piece_short",
           [] {
             PieceGeometry const g{100, 40, 3};
             CHECK(g.size(0) == 40 && g.size(1) == 40 && g.size(2) == 20);
             CHECK(g.size(3) == 0 && g.size(-1) == 0);
           }},
          {"tally_counts_a_piece_once",
           [] {
             PieceTally t(PieceGeometry{100, 40, 3});
             CHECK(!t.add(0, 20));
             CHECK(t.add(0, 20));
             CHECK(!t.add(0, 20));  // end-game duplicate after completion
             CHECK(t.add(2, 20));   // short last piece
             CHECK(!t.add(5, 20));  // out of range
             CHECK(!t.add(1, 0));
             CHECK(t.complete(0) && !t.complete(1));
           }},
          {"paid_pieces_pass_then_blocks_and_blocks_then_pass",
           [] {
             PaidPieces p(PieceGeometry{100, 40, 3});
             CHECK(!p.on_block(0, 40 / 2));
             CHECK(!p.on_pass(0));            // passed, but half came from elsewhere so far
             CHECK(p.on_block(0, 40 / 2));    // late duplicate block completes it: pay now
             CHECK(!p.on_block(1, 40));       // whole, not yet passed
             CHECK(p.on_pass(1));             // pay on pass
             CHECK(!p.on_pass(2));            // never received from this peer: never paid
           }},
      },
      argc, argv);
}
