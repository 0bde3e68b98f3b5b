// piecepay-torrent seed|leech: one libtorrent session facing a peer of another implementation, for
// interoperability tests (client-sdk/js): a payee seeding a generated torrent, or a payer downloading a
// given one from a given peer, until SIGTERM. See the top of peer.cpp.
#pragma once

#include <set>
#include <string>

#include "args.hpp"

namespace piecepay::torrent::cli {

extern const std::set<std::string> kSeedOptions;
extern const std::set<std::string> kLeechOptions;

int seed(const Args& a);
int leech(const Args& a);

}  // namespace piecepay::torrent::cli
