/* The checks of the C test programs: each CHECK counts, and the first that fails prints the library's
 * last error and makes main return 1. */
#pragma once

#include <stdio.h>

#include "piecepay.h"

static int checks = 0;

#define CHECK(cond)                                                                             \
  do {                                                                                          \
    checks++;                                                                                   \
    if (!(cond)) {                                                                              \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s: %s)\n", __FILE__, __LINE__,     \
              #cond, piecepay_last_error_code(), piecepay_last_error_message());                \
      return 1;                                                                                 \
    }                                                                                           \
  } while (0)

#define OK(call) CHECK((call) == PIECEPAY_STATUS_OK)
