// A minimal HTTP tracker on 127.0.0.1 for foreign clients (transmission, aria2) that cannot be told a
// peer address directly: every announce is answered with the same fixed peer list (compact form).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace piecepay::torrent::swarm {

class Tracker {
 public:
  /// Serves announces listing `peer_ports` (all on 127.0.0.1). Binds 127.0.0.1:0.
  explicit Tracker(std::vector<std::uint16_t> peer_ports);
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  /// http://127.0.0.1:<port>/announce
  std::string announce_url() const;
  /// Announces answered so far.
  std::uint64_t announces() const { return announces_.load(); }

 private:
  void serve();
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string body_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> announces_{0};
  std::thread thread_;
};

}  // namespace piecepay::torrent::swarm
