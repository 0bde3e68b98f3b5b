#include "tracker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace piecepay::torrent::swarm {

Tracker::Tracker(std::vector<std::uint16_t> peer_ports) {
  std::string peers;
  for (std::uint16_t port : peer_ports) {
    peers += std::string{'\x7f', '\0', '\0', '\x01'};
    peers += static_cast<char>(port >> 8);
    peers += static_cast<char>(port & 0xff);
  }
  body_ = "d8:completei1e10:incompletei0e8:intervali30e12:min intervali5e5:peers" + std::to_string(peers.size()) + ":" +
          peers + "e";
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("tracker: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 16) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd_);
    throw std::runtime_error("tracker: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

Tracker::~Tracker() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

std::string Tracker::announce_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/announce"; }

void Tracker::serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    // The timeout only bounds how long shutdown waits; connections are handled as they arrive.
    if (::poll(&p, 1, 50) <= 0) continue;
    int const c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 2000) <= 0) break;
      ssize_t const n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    if (req.rfind("GET ", 0) == 0) {
      ++announces_;
      std::string const resp =
          "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body_.size()) +
          "\r\nConnection: close\r\n\r\n" + body_;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  }
}

}  // namespace piecepay::torrent::swarm
