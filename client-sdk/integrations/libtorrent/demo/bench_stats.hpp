// The bench's statistics: medians of paired rounds and how far their ratio can be trusted. Transfers on
// a small shared machine differ by ±4 % from one to the next, about as much as the effect measured, so
// the ratio is printed with a bootstrap interval rather than as a bare number.
#pragma once

#include <algorithm>
#include <cstddef>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

namespace piecepay::torrent::stats {

inline double median(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("median of nothing");
  std::sort(v.begin(), v.end());
  std::size_t const n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/// The ratio the bench reports: median of `paid` over median of `free`.
inline double median_ratio(const std::vector<double>& paid, const std::vector<double>& free) {
  return median(paid) / median(free);
}

/// A 95 % percentile-bootstrap interval of `median_ratio` over rounds: round i's paid and free transfers
/// (run back to back) are drawn together, so slow spells of the machine stay paired. Seeded: the same
/// samples give the same interval.
inline std::pair<double, double> median_ratio_ci95(const std::vector<double>& paid, const std::vector<double>& free,
                                                   int resamples = 4000) {
  if (paid.size() != free.size() || paid.empty()) throw std::invalid_argument("rounds must pair up");
  std::mt19937_64 rng(0x5eed);
  std::uniform_int_distribution<std::size_t> pick(0, paid.size() - 1);
  std::vector<double> ratios, p(paid.size()), f(free.size());
  ratios.reserve(static_cast<std::size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    for (std::size_t i = 0; i < paid.size(); ++i) {
      std::size_t const k = pick(rng);
      p[i] = paid[k];
      f[i] = free[k];
    }
    ratios.push_back(median_ratio(p, f));
  }
  std::sort(ratios.begin(), ratios.end());
  auto const at = [&](double q) {
    return ratios[static_cast<std::size_t>(q * static_cast<double>(ratios.size() - 1))];
  };
  return {at(0.025), at(0.975)};
}

}  // namespace piecepay::torrent::stats
