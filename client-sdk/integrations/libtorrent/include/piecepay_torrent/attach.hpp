// Payments for an existing libtorrent 2.0 session in one call: `attach` starts the client agent
// (docs/agent.md) from its configuration file and adds one session plugin that drives a per-peer link of
// that agent for every connection of every torrent — the agent opens, checks, pays, settles and persists
// by itself; the plugin moves its messages, asks it before serving a request, tells it which pieces went
// out and which passed their hash check, and gives the upload slots to the highest bidders.
//
//   auto payments = piecepay::torrent::attach(session, "agent.toml");   // throws AttachError
//   ... payments->report_json(), payments->withdraw(), payments->close_all() ...
//   payments->stop();   // or let it go out of scope: joins the agent's threads
//
// See README.md, "Payments for an lt::session".
#pragma once

#include <libtorrent/session.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "piecepay_torrent/plugin.hpp"

typedef struct PiecepayAgent PiecepayAgent;  // piecepay.h

namespace piecepay::torrent {

/// The agent refused to start or to do what it was asked: `code` is the C ABI's stable error code
/// (`config`, `wallet`, `deployment`, `unavailable`, `storage`, `shut_down`, …), `what()` is one line,
/// "error[code]: message", as the project's other programs print their failures (the message is the C
/// ABI's, which names what is wrong and where, e.g. `error[config]: config /etc/agent.toml: cannot read
/// it: …`).
struct AttachError : std::runtime_error {
  AttachError(std::string code, const std::string& message)
      : std::runtime_error("error[" + code + "]: " + message), code(std::move(code)) {}
  std::string code;
};

/// How the plugin shares the upload slots (everything else is the agent's configuration).
struct AttachOptions {
  /// Percentage of the upload slots (0–100, rounded up) kept for peers that do not pay while there are
  /// such peers; the other slots go to the highest bidders.
  std::uint8_t reserved_percent = 20;
};

class AgentCore;

/// Payments attached to one session (RAII: destroying it stops them). Every method may be called from
/// any thread except libtorrent's network thread (from inside a libtorrent callback).
class Attachment {
 public:
  explicit Attachment(std::shared_ptr<AgentCore> core);
  ~Attachment();
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  /// The agent's account, 0x-prefixed hex.
  std::string address() const;
  /// The agent's report (docs/agent.md, "Reports"): spend and earnings per torrent and per peer, balances.
  std::string report_json() const;
  /// The next event as one JSON object (docs/agent.md, "Events"), or nothing when none is waiting.
  std::optional<std::string> next_event_json() const;
  /// Withdraws `amount` (decimal base units; empty: all) of the free balance to `to` (0x address; empty:
  /// the agent's own account). Blocks until mined; returns the transaction hash (0x hex).
  std::string withdraw(const std::string& to = "", const std::string& amount = "") const;
  /// Closes every channel the agent pays on and hands every receipt it holds to a relayer now.
  void close_all() const;
  /// Whether this agent owes a connected peer a payment now (pieces verified and not yet paid, a receipt
  /// not yet acknowledged): wait for it to clear before close_all, so the last pieces are paid too.
  bool payments_due() const;
  /// The plugin's own counters (pieces served paid or free, requests swallowed, pieces paid, …).
  const Counters& counters() const;
  /// Detaches from the session — connections stop paying and being policed, the host's choker settings
  /// (at the plugin's next tick) and hashing threads come back — and stops the agent: every change
  /// durable, its threads joined. Waits for the network thread to let go of every peer link (≤ 2 s while
  /// the session runs). Idempotent.
  void stop();

 private:
  PiecepayAgent* agent() const;

  std::shared_ptr<AgentCore> core_;  ///< null once stopped
  std::shared_ptr<const Counters> counters_;
};

/// Starts the agent of `config_path` (TOML, docs/agent.md; `password` unlocks its keystore, nullptr: the
/// configured environment variable) and adds payments to every torrent of `session`, present and future.
/// Returns once the torrents present have joined (the session plugin's first tick, within libtorrent's
/// `tick_interval`); the connections open by then went through their handshake without piecepay's
/// extension and stay unpaid: a host that had connections re-makes them. Nothing is added when the
/// agent does not start (AttachError names what is wrong). Once per session.
///
/// Two of the session's settings are lent to payments until stop (src/lent_settings.hpp): a selling
/// session's choker (its upload slots go by bid), and `hashing_threads`, raised to one per core (a higher
/// value is kept) once the torrents joined — a piece is paid when it passes its hash check, and with
/// libtorrent's single hashing thread a buyer's passed pieces fell more than a seller's credit window
/// behind what it was sent (client-sdk/integrations/deluge/README.md, "Bench"). On stop each comes back
/// to the value found unless the host set another meanwhile: that one stays.
std::unique_ptr<Attachment> attach(libtorrent::session& session, const std::string& config_path,
                                   const char* password = nullptr, AttachOptions options = {});

}  // namespace piecepay::torrent
