// A paying swarm on loopback, for the demo and the tests: seeder sessions (payees, one per key, each on
// its own 127.0.0.1 port) and leecher sessions (payers) each connected to every seeder, transferring a
// generated torrent; then the books of both sides, pair by pair, and whether they add up.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "swarm.hpp"

namespace piecepay::torrent::swarm {

/// Channels the caller opened on chain before the transfer, and checked there: leecher i's channel to
/// seeder j has salt `salt_base + j` and `deposit`. Payers adopt them, payees serve on them.
struct CallerFunded {
  std::uint32_t salt_base = 0;
  std::string deposit;  ///< decimal base units
};

/// What to run.
struct PaidSwarmConfig {
  ChainOptions chain;
  std::vector<std::string> seeder_keys;   ///< hex secret keys, one seeder session each
  std::vector<std::string> leecher_keys;  ///< hex secret keys, one leecher session each
  std::string price = "1000";             ///< per piece, decimal base units
  std::uint32_t credit_pieces = 64;
  std::uint32_t free_pieces = 0;
  /// Caller-funded channels. Empty: the chainless test mode — payers sign opens nobody submits and
  /// payees trust the deposit they claim.
  std::optional<CallerFunded> funded;
  std::chrono::seconds timeout{120};
  bool progress = false;  ///< progress and counters on stderr
};

/// One (leecher, seeder) pair as both sides counted it.
struct PairReport {
  int leecher = 0;
  int seeder = 0;
  std::string payer;       ///< 0x address
  std::string payee;       ///< 0x address
  std::string channel_id;  ///< 0x hex, empty when the pair never opened a channel on the wire
  std::uint32_t salt = 0;
  std::uint64_t pieces_delivered = 0;   ///< leecher: pieces it owed the seeder for
  std::uint64_t pieces_served = 0;      ///< seeder: whole pieces served on the channel
  std::uint64_t receipts_signed = 0;    ///< leecher
  std::uint64_t receipts_accepted = 0;  ///< seeder
  std::string paid_signed = "0";        ///< leecher's highest cumulative signed
  std::string paid_accepted = "0";      ///< seeder's highest cumulative accepted (its receipt)
};

/// What a run did.
struct SwarmReport {
  int pieces = 0;
  std::int64_t piece_bytes = 0;
  std::int64_t total_bytes = 0;
  std::string price;
  double seconds = 0;                   ///< from the first connection to the last completion (or timeout)
  std::vector<std::string> seeders;     ///< addresses
  std::vector<std::string> leechers;    ///< addresses
  std::vector<bool> completed;          ///< per leecher
  std::vector<std::uint64_t> unpaid;    ///< per leecher: pieces supplied by a peer it does not pay
  std::vector<PairReport> pairs;        ///< leecher-major, every (leecher, seeder)
  std::vector<ReceiptRecord> receipts;  ///< every seeder's latest receipt per channel
  /// Why the run is not a success, in words: a leecher that did not complete, a piece not paid, a
  /// receipt that did not reach its payee, a receipt rejected, a protocol error. Empty: success.
  std::vector<std::string> problems;

  bool ok() const { return problems.empty(); }
  /// The whole report as one line of JSON (format in README.md, "Stats").
  std::string to_json() const;
};

/// Runs the swarm over `fixture`, leechers downloading under `dir`. Never throws for a transfer that
/// goes wrong (that is in the report); throws std::invalid_argument on a bad configuration.
SwarmReport run_paid_swarm(const Fixture& fixture, const std::filesystem::path& dir, const PaidSwarmConfig& config);

}  // namespace piecepay::torrent::swarm
