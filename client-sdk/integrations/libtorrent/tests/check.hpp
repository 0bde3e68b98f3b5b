// A minimal test runner: CHECK records failures without aborting the test; the runner prints one line
// per test and the closing "N passed, N failed" line that CI tooling reads.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace check {

inline int& failures() {
  static int n = 0;
  return n;
}

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      ++::check::failures();                                                            \
      std::fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                                   \
  } while (0)

struct Test {
  const char* name;
  std::function<void()> body;
};

inline int run(const std::vector<Test>& tests, int argc, char** argv) {
  int passed = 0, failed = 0;
  for (auto const& t : tests) {
    if (argc > 1 && std::string(argv[1]) != t.name) continue;
    int const before = failures();
    std::string error;
    try {
      t.body();
    } catch (std::exception const& e) {
      error = e.what();
    }
    bool const ok = failures() == before && error.empty();
    if (!error.empty()) std::fprintf(stderr, "  exception: %s\n", error.c_str());
    std::printf("test %s ... %s\n", t.name, ok ? "ok" : "FAILED");
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check
