/* Two client agents — a seller and a buyer — driven through piecepay's C ABI as a C torrent client would:
 * peer handles fed with each other's messages, pieces served and verified. Built and run by
 * tests/agent_abi.rs on a devnet: agent.c SELLER.toml BUYER.toml PIECES PRICE. Exits non-zero on the first
 * failed check. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "piecepay.h"

static atomic_uint wakes;

static void on_wake(void *context, uint64_t peer_id) {
  (void)context;
  (void)peer_id;
  atomic_fetch_add(&wakes, 1);
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* Moves every waiting message from one peer handle to the other. */
static int forward(const PiecepayPeer *from, const PiecepayPeer *to) {
  int moved = 0;
  for (;;) {
    PiecepayBytes out;
    if (piecepay_peer_next_message(from, &out) != PIECEPAY_STATUS_OK || out.len == 0) return moved;
    piecepay_peer_on_message(to, out.data, out.len);
    piecepay_bytes_free(out);
    moved++;
  }
}

static void pump(const PiecepayPeer *a, const PiecepayPeer *b) {
  forward(a, b);
  forward(b, a);
}

int main(int argc, char **argv) {
  CHECK(argc == 5);
  long pieces = atol(argv[3]);
  long price = atol(argv[4]);

  PiecepayAgent *seller = NULL, *buyer = NULL;
  OK(piecepay_agent_new(argv[1], NULL, &seller));
  OK(piecepay_agent_new(argv[2], NULL, &buyer));
  OK(piecepay_agent_set_wake(seller, on_wake, NULL));
  uint8_t address[20];
  OK(piecepay_agent_address(buyer, address));

  uint8_t torrent[20];
  memset(torrent, 0x7a, sizeof torrent);
  PiecepayPeer *to_buyer = NULL, *to_seller = NULL;
  OK(piecepay_peer_new(seller, torrent, "buyer", &to_buyer));
  OK(piecepay_peer_new(buyer, torrent, "seller", &to_seller));
  CHECK(piecepay_peer_id(to_buyer) != 0);
  OK(piecepay_peer_start(to_buyer));

  /* The torrent engine's loop: serve what the seller allows, verify, pay. */
  long moved = 0;
  time_t give_up = time(NULL) + 60;
  while (moved < pieces && time(NULL) < give_up) {
    pump(to_buyer, to_seller);
    PiecepayPeerState served;
    OK(piecepay_peer_state(to_buyer, &served));
    /* The allowance is what the engine may accept requests for: 0 exactly when it may not serve. */
    CHECK(served.serve == (served.allowance > 0));
    if (piecepay_peer_may_serve(to_buyer)) {
      OK(piecepay_peer_on_piece_served(to_buyer));
      OK(piecepay_peer_on_piece_verified(to_seller));
      moved++;
    } else {
      sleep_ms(10);
    }
  }
  CHECK(moved == pieces);
  PiecepayPeerState state;
  give_up = time(NULL) + 30;
  do {
    pump(to_buyer, to_seller);
    sleep_ms(20);
    OK(piecepay_peer_state(to_seller, &state));
  } while (state.payment_due && time(NULL) < give_up);
  CHECK(!state.payment_due && state.buying);
  OK(piecepay_peer_state(to_buyer, &state));
  CHECK(state.paying && state.bid.lo == (uint64_t)price);
  /* Everything served was paid: the credit window is whole again (the deposit allowing). */
  CHECK(state.allowance >= 1);
  CHECK(atomic_load(&wakes) > 0);

  /* The buyer's report says what it paid; the seller's events say it checked the channel. */
  char expected[64];
  snprintf(expected, sizeof expected, "\"spent\":\"%ld\"", pieces * price);
  PiecepayBytes report;
  OK(piecepay_agent_report_json(buyer, &report));
  CHECK(report.len > 0 && strstr((const char *)report.data, expected) != NULL);
  printf("%.*s\n", (int)report.len, (const char *)report.data);
  piecepay_bytes_free(report);
  int checked = 0;
  for (;;) {
    PiecepayBytes event;
    OK(piecepay_agent_next_event_json(seller, &event));
    if (event.len == 0) break;
    if (strstr((const char *)event.data, "\"type\":\"channel_checked\"")) checked = 1;
    piecepay_bytes_free(event);
  }
  CHECK(checked);

  /* A bad call fails with a status and a last error, never a crash. */
  CHECK(piecepay_peer_on_message(NULL, NULL, 0) == PIECEPAY_STATUS_NULL_ARGUMENT);
  CHECK(!piecepay_peer_may_serve(NULL));

  piecepay_peer_free(to_buyer);
  piecepay_peer_free(to_seller);
  piecepay_agent_free(seller);
  piecepay_agent_free(buyer);
  printf("%d checks passed\n", checks);
  return 0;
}
