// piecepay-torrent bench|bench-agent: paid vs free loopback throughput, with the caller-configured plugin
// (bench) or with a client agent on each side on a local chain (bench-agent). See the top of bench.cpp.
#pragma once

#include <set>
#include <string>

#include "args.hpp"

namespace piecepay::torrent::cli {

extern const std::set<std::string> kBenchOptions;
extern const std::set<std::string> kBenchAgentOptions;

int bench(const Args& a);
int bench_agent(const Args& a);

}  // namespace piecepay::torrent::cli
