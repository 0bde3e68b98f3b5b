// piecepay-torrent serve|download|balance|withdraw|close: a torrent client whose payments are the client agent's
// (piecepay::torrent::attach, docs/agent.md): each process has its own agent, wallet and database, and
// nothing is opened, vouched or settled by whoever runs it. See the top of client.cpp.
#pragma once

#include <set>
#include <string>

#include "args.hpp"

namespace piecepay::torrent::cli {

extern const std::set<std::string> kServeOptions;
extern const std::set<std::string> kDownloadOptions;
extern const std::set<std::string> kBalanceOptions;
extern const std::set<std::string> kWithdrawOptions;
extern const std::set<std::string> kCloseOptions;

int serve(const Args& a);
int download(const Args& a);
int balance(const Args& a);
int withdraw(const Args& a);
int close(const Args& a);

}  // namespace piecepay::torrent::cli
