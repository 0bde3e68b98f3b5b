// Command-line options of piecepay-torrent: `--name value` pairs, checked against the options a command
// knows, with typed accessors that turn a bad value into a usage error (exit status 2).
#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace piecepay::torrent::cli {

/// Usage errors (exit status 2), as opposed to a run that went wrong (1).
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Args {
  std::map<std::string, std::string> kv;

  bool has(const std::string& k) const { return kv.count(k) != 0; }
  std::uint64_t num(const std::string& k, std::uint64_t dflt, std::uint64_t max = UINT64_MAX) const {
    auto it = kv.find(k);
    if (it == kv.end()) return dflt;
    std::string const& v = it->second;
    char* end = nullptr;
    errno = 0;
    unsigned long long const n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || end == v.c_str() || *end != '\0' || errno == ERANGE || n > max)
      throw UsageError("--" + k + " wants a number up to " + std::to_string(max));
    return n;
  }
  std::string str(const std::string& k, const std::string& dflt) const {
    auto it = kv.find(k);
    return it == kv.end() ? dflt : it->second;
  }
  /// A decimal token amount (base units).
  std::string amount(const std::string& k, const std::string& dflt) const {
    std::string const v = str(k, dflt);
    if (v.empty() || v.size() > 29 || v.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError("--" + k + " wants a decimal amount in base units");
    return v;
  }
  /// A comma-separated list.
  std::vector<std::string> list(const std::string& k) const {
    std::vector<std::string> out;
    std::string const v = str(k, "");
    std::size_t from = 0;
    while (from <= v.size() && !v.empty()) {
      std::size_t const comma = v.find(',', from);
      std::string item = v.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
      if (item.empty()) throw UsageError("--" + k + " has an empty item");
      out.push_back(std::move(item));
      if (comma == std::string::npos) break;
      from = comma + 1;
    }
    return out;
  }
};

inline Args parse(int argc, char** argv, int from, const std::set<std::string>& known) {
  Args a;
  for (int i = from; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) throw UsageError("bad argument: " + k + " (options are --name value)");
    if (known.count(k.substr(2)) == 0) throw UsageError("unknown option: " + k);
    a.kv[k.substr(2)] = argv[++i];
  }
  return a;
}

/// A 0x-prefixed 20-byte hex address.
inline std::string address_arg(const Args& a, const std::string& k, const std::string& dflt) {
  std::string const v = a.str(k, dflt);
  if (v.size() != 42 || v.rfind("0x", 0) != 0 || v.find_first_not_of("0123456789abcdefABCDEF", 2) != std::string::npos)
    throw UsageError("--" + k + " wants a 0x-prefixed 20-byte hex address");
  return v;
}

}  // namespace piecepay::torrent::cli
