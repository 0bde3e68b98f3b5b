// This build has no payments yet: the client agent's C ABI (issue 13) and the libtorrent integration's
// one-call "add payments to an lt::session given an agent" are not in the tree. Starting payments
// fails with a clear error instead of paying without the agent: nothing in this plugin may trust a
// caller (or a peer) for deposits, which is what the integration's pre-agent mode does.
#include "error.hpp"
#include "payments.hpp"

namespace piecepay::deluge {

std::unique_ptr<Payments> start_payments(lt::session&, const std::string&, const std::string&) {
  throw Error("agent_unavailable",
              "this build of the piecepay plugin has no payment agent (client-sdk/agent, issue 13): "
              "torrents are served without payments; rebuild with `make deluge-plugin` once it is in");
}

std::string payments_backend() { return "none (agent not built in)"; }

}  // namespace piecepay::deluge
