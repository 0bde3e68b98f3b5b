// The payments a Deluge session gets: the client agent (wallet, channels checked on chain, SQLite,
// relayer hand-off; issue 13) attached to Deluge's own lt::session by the libtorrent integration's
// one-call function. This header is the only thing the rest of the module knows about them, so the
// agent-dependent code lives in one file behind it (payments_*.cpp, chosen by the Makefile).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <libtorrent/session.hpp>

namespace piecepay::deluge {

// Amounts are decimal strings of token base units (they exceed 64 bits).
struct TorrentTotals {
  std::string spent = "0";         // paid to the peers we downloaded from (receipts signed)
  std::string earned = "0";        // paid to us by the peers we uploaded to (receipts held)
  std::string pending = "0";       // earned, not yet settled on chain
  std::uint32_t peers_paying = 0;  // peers paying us now
  std::uint32_t peers_paid = 0;    // peers we pay now
};

struct Wallet {
  std::string address;
  std::string token_balance = "0";  // the wallet's own tokens, outside the escrow
  std::string free = "0";           // free balance in the escrow (withdrawable)
  std::string locked = "0";         // deposits locked in open channels
};

class Payments {
 public:
  virtual ~Payments() = default;
  // Per torrent, keyed by the v1 info-hash in lower-case hex (Deluge's torrent id).
  virtual std::map<std::string, TorrentTotals> totals() = 0;
  virtual Wallet wallet() = 0;
  // Withdraws `amount` base units ("all": the whole free balance); returns what was withdrawn.
  virtual std::string withdraw(const std::string& amount) = 0;
  // Closes every channel cooperatively (payer side: refunds come back to the free balance); returns
  // how many were closed.
  virtual std::uint32_t close_all() = 0;
  // The agent's events since the last call, oldest first, each one JSON object as docs/agent.md
  // ("Reports and events") lists them; the agent keeps the last 4,096 between calls.
  virtual std::vector<std::string> events() = 0;
  // Detaches from the session (its plugin stops acting on peers) and shuts the agent down: its threads
  // are joined and its database closed before this returns.
  virtual void stop() = 0;
};

// Starts the agent from its TOML config (the keystore's password given here, kept in memory only) and
// adds payments to `session`. Throws Error (wrong password, missing keystore, unreachable relayer, …)
// before anything is attached.
std::unique_ptr<Payments> start_payments(lt::session& session, const std::string& config_path,
                                         const std::string& password);

// What this build's payments are ("agent <version>", or why there are none).
std::string payments_backend();

}  // namespace piecepay::deluge
