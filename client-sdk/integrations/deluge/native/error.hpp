// One error type for everything the native module refuses: a stable code (the plugin shows it over RPC
// and in deluged's log) and a message naming what and where.
#pragma once

#include <stdexcept>
#include <string>

namespace piecepay::deluge {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace piecepay::deluge
