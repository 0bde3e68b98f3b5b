/* A payer and a payee talking through piecepay's C ABI, as a C torrent client would drive it.
 * Built and run by tests/c_abi.rs; exits non-zero on the first failed check. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "piecepay.h"

static const uint64_t NOW = 1700000000;
static const uint64_t PRICE = 1000;

/* Hands the reply of one side to the other, then frees it. */
static PiecepayStatus deliver_to_payee(PiecepayPayee *payee, PiecepayOutcome *from, PiecepayOutcome *out) {
  PiecepayStatus status = piecepay_payee_on_message(payee, from->reply.data, from->reply.len, NOW, out);
  piecepay_bytes_free(from->reply);
  from->reply.data = NULL;
  return status;
}

static PiecepayStatus deliver_to_payer(PiecepayPayer *payer, PiecepayOutcome *from, PiecepayOutcome *out) {
  PiecepayStatus status = piecepay_payer_on_message(payer, from->reply.data, from->reply.len, NOW, out);
  piecepay_bytes_free(from->reply);
  from->reply.data = NULL;
  return status;
}

int main(void) {
  CHECK(strcmp(piecepay_extension_name(), "piecepay") == 0);
  CHECK(strcmp(piecepay_version_key(), "piecepay_v") == 0);
  CHECK(piecepay_negotiate_version(1) == PIECEPAY_VERSION);
  CHECK(piecepay_negotiate_version(0) == 0);
  CHECK(strcmp(piecepay_status_name(PIECEPAY_STATUS_STALE_RECEIPT), "PIECEPAY_STATUS_STALE_RECEIPT") == 0);

  PiecepayPayeeConfig payee_config = {
      .chain_id = 31337, .min_price = {.lo = PRICE}, .credit_pieces = 2};
  memset(payee_config.escrow, 0xe5, 20);
  memset(payee_config.token, 0x70, 20);
  memset(payee_config.secret_key, 0x22, 32);

  PiecepayPayerConfig payer_config = {.chain_id = 31337,
                                      .salt = 7,
                                      .max_price = {.lo = 2 * PRICE},
                                      .bid_step = {.lo = 100},
                                      .budget = {.lo = 1000000},
                                      .auth_ttl = 600};
  memset(payer_config.escrow, 0xe5, 20);
  memset(payer_config.token, 0x70, 20);
  memset(payer_config.secret_key, 0x11, 32);

  PiecepayPayee *payee = NULL;
  PiecepayPayer *payer = NULL;
  OK(piecepay_payee_new(&payee_config, &payee));
  OK(piecepay_payer_new(&payer_config, &payer));

  /* Handshake done; the payee says hello with its terms, the payer bids, the payee accepts. */
  PiecepayOutcome a, b;
  OK(piecepay_payee_terms(payee, &a.reply));
  OK(deliver_to_payer(payer, &a, &b));
  CHECK(b.received == PIECEPAY_MESSAGE_KIND_TERMS && b.reply.len > 0);
  OK(deliver_to_payee(payee, &b, &a));
  OK(deliver_to_payer(payer, &a, &b));
  CHECK(b.received == PIECEPAY_MESSAGE_KIND_ACCEPT);
  CHECK(b.actions & PIECEPAY_ACTION_OPEN_CHANNEL);

  /* Fund the channel: sign the open, (submit it), confirm, announce; the payee checks and serves. */
  PiecepaySignedOpen open;
  OK(piecepay_payer_open(payer, (PiecepayAmount){.lo = 100 * PRICE}, (PiecepayAmount){0}, NOW, &open));
  CHECK(open.deposit.lo == 100 * PRICE && open.salt == 7 && open.deadline == NOW + 600);
  OK(piecepay_payer_channel_funded(payer, open.deposit, NULL, NOW, &a));
  OK(deliver_to_payee(payee, &a, &b));
  CHECK(b.actions & PIECEPAY_ACTION_CHECK_CHANNEL);
  CHECK(b.amount.lo == 100 * PRICE);
  OK(piecepay_payee_channel_funded(payee, b.amount, NOW, &a));
  CHECK(a.actions & PIECEPAY_ACTION_SERVE);

  /* Three pieces: served, verified, paid, acknowledged. */
  for (uint64_t piece = 1; piece <= 3; piece++) {
    OK(piecepay_payee_check_request(payee, &a));
    CHECK(a.actions & PIECEPAY_ACTION_SERVE);
    OK(piecepay_payee_on_piece_served(payee, NOW, &a));
    piecepay_bytes_free(a.reply);
    OK(piecepay_payer_on_piece_verified(payer, NOW, &b));
    /* The receipt is held; the peer owes half its credit, so verifying it is due (off the network
       thread in a real client). */
    OK(deliver_to_payee(payee, &b, &a));
    CHECK(a.actions & PIECEPAY_ACTION_VERIFY_RECEIPT);
    CHECK(a.reply.len == 0);
    OK(piecepay_payee_verify_receipt(payee, NOW, &a));
    CHECK(a.actions & PIECEPAY_ACTION_PERSIST_RECEIPT);
    CHECK(a.amount.lo == piece * PRICE);
    PiecepayReceipt receipt;
    OK(piecepay_payee_latest_receipt(payee, &receipt));
    CHECK(receipt.cumulative.lo == piece * PRICE && receipt.salt == 7);
    OK(deliver_to_payer(payer, &a, &b));
    CHECK(b.received == PIECEPAY_MESSAGE_KIND_RECEIPT_ACK && b.amount.lo == piece * PRICE);
  }

  /* Unpaid pieces: over the credit window the payee chokes and says why. */
  OK(piecepay_payee_on_piece_served(payee, NOW, &a));
  piecepay_bytes_free(a.reply);
  OK(piecepay_payee_on_piece_served(payee, NOW, &a));
  CHECK(a.actions & PIECEPAY_ACTION_CHOKE);
  OK(deliver_to_payer(payer, &a, &b));
  CHECK(b.actions & PIECEPAY_ACTION_PEER_CODE);
  CHECK(strcmp(b.code, "over_credit") == 0);

  /* Garbage from the peer: an error status, an error reply, no crash, nothing changed. */
  PiecepayChannelInfo before, after;
  OK(piecepay_payee_info(payee, &before));
  const uint8_t garbage[] = "d3:sigi1e1:t7:receipte";
  CHECK(piecepay_payee_on_message(payee, garbage, sizeof garbage - 1, NOW, &a) ==
        PIECEPAY_STATUS_MALFORMED_MESSAGE);
  CHECK(strcmp(piecepay_last_error_code(), "missing_field") == 0);
  CHECK(a.reply.len > 0);
  PiecepayMessageKind kind;
  OK(piecepay_message_kind(a.reply.data, a.reply.len, &kind));
  CHECK(kind == PIECEPAY_MESSAGE_KIND_ERROR);
  piecepay_bytes_free(a.reply);
  OK(piecepay_payee_info(payee, &after));
  CHECK(memcmp(&before.paid, &after.paid, sizeof before.paid) == 0 && after.pieces == before.pieces);
  CHECK(piecepay_payee_on_message(NULL, garbage, 3, NOW, &a) == PIECEPAY_STATUS_NULL_ARGUMENT);
  CHECK(piecepay_payee_on_message(payee, NULL, 3, NOW, &a) == PIECEPAY_STATUS_INVALID_ARGUMENT);

  /* Cooperative close: payer signs, payee co-signs, both hold the same two signatures. */
  OK(piecepay_payer_close(payer, (PiecepayAmount){0}, NOW, &a));
  OK(deliver_to_payee(payee, &a, &b));
  CHECK(b.actions & PIECEPAY_ACTION_CLOSE_SIGNED);
  OK(deliver_to_payer(payer, &b, &a));
  CHECK(a.actions & PIECEPAY_ACTION_CLOSE_SIGNED);
  PiecepayCooperativeClose by_payer, by_payee;
  OK(piecepay_payer_cooperative_close(payer, &by_payer));
  OK(piecepay_payee_cooperative_close(payee, &by_payee));
  /* Field by field: the struct has padding, which memcmp would compare too. */
  CHECK(memcmp(by_payer.payer, by_payee.payer, 20) == 0 && memcmp(by_payer.payee, by_payee.payee, 20) == 0);
  CHECK(by_payer.salt == by_payee.salt && by_payer.deadline == by_payee.deadline);
  CHECK(by_payer.cumulative.lo == by_payee.cumulative.lo && by_payer.fee.lo == by_payee.fee.lo);
  CHECK(memcmp(by_payer.payer_signature, by_payee.payer_signature, 64) == 0);
  CHECK(memcmp(by_payer.payee_signature, by_payee.payee_signature, 64) == 0);
  CHECK(by_payer.cumulative.lo == 3 * PRICE);

  piecepay_payer_free(payer);
  piecepay_payee_free(payee);
  printf("piecepay C ABI: %d checks passed\n", checks);
  return 0;
}
