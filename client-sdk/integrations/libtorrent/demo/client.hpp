// piecepay-torrent serve|download: a torrent client whose payments are the client agent's
// (piecepay::torrent::attach, docs/agent.md): each process has its own agent, wallet and database, and
// nothing is opened, vouched or settled by whoever runs it. See the top of client.cpp.
#pragma once

#include <set>
#include <string>

#include "args.hpp"

namespace piecepay::torrent::cli {

extern const std::set<std::string> kServeOptions;
extern const std::set<std::string> kDownloadOptions;

int serve(const Args& a);
int download(const Args& a);

}  // namespace piecepay::torrent::cli
