//! [`Metrics`]: the relayer's counters and histograms, rendered in Prometheus' text format for
//! `GET /metrics`. Names may change between releases (they are not part of the versioned API).

use piecepay_protocol::relayer_api::{Readiness, ReadinessState};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the request latency histogram, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// Upper bounds of the time-to-settle histogram, in seconds: a second to a day.
const SETTLE_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1_800.0, 3_600.0, 7_200.0, 21_600.0, 86_400.0,
];

/// A Prometheus histogram: a count per upper bound (not cumulative until rendered), the total and sum.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(self.bounds) {
            if value <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name`, with `labels` (`route="…",` or empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let labels = labels.trim_end_matches(',');
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

/// Every metric of a node. Shared (`Arc`) by the API, ingest, batcher and chain tasks.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    receipts: Mutex<BTreeMap<&'static str, u64>>,
    operations: Mutex<BTreeMap<&'static str, u64>>,
    /// Settlement batches handed to the submitter.
    pub batches_submitted: AtomicU64,
    /// Receipts in those batches.
    pub batch_receipts: AtomicU64,
    /// Settlements skipped because gas would cost too large a share of their value.
    pub batches_skipped_gas: AtomicU64,
    /// Gas used by confirmed relayer transactions.
    pub gas_used: AtomicU64,
    /// The chain head minus the indexer's cursor, in blocks (-1: unknown).
    pub indexer_lag_blocks: AtomicI64,
    /// 1 while this node is the leader (runs indexer, batcher and submitter), else 0.
    pub leader: AtomicI64,
    /// The signer's funds as last read, in wei (f64 bits; absent until read): balance, what a full
    /// settlement batch may cost, `signer.warn_balance`.
    signer_funds: Mutex<Option<[f64; 3]>>,
    /// Seconds from a receipt's acknowledgement to its settlement's confirmation.
    settle_latency: Mutex<Option<Histogram>>,
}

impl Metrics {
    /// Counts a finished request of `route` with `status` that took `elapsed`.
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        *lock(&self.requests)
            .entry((route.to_owned(), status))
            .or_default() += 1;
        lock(&self.latency)
            .entry(route.to_owned())
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a settled receipt whose value waited `seconds` between acknowledgement and confirmation.
    pub fn observe_settle_latency(&self, seconds: u64) {
        lock(&self.settle_latency)
            .get_or_insert_with(|| Histogram::new(SETTLE_BUCKETS))
            .observe(seconds as f64);
    }

    /// Counts receipt results by outcome (`accepted`, `duplicate`, or the rejection code).
    pub fn count_receipts(&self, outcomes: impl IntoIterator<Item = &'static str>) {
        let mut receipts = lock(&self.receipts);
        for outcome in outcomes {
            *receipts.entry(outcome).or_default() += 1;
        }
    }

    /// Counts operation results by outcome (`queued`, `duplicate`, or the rejection code).
    pub fn count_operations(&self, outcomes: impl IntoIterator<Item = &'static str>) {
        let mut operations = lock(&self.operations);
        for outcome in outcomes {
            *operations.entry(outcome).or_default() += 1;
        }
    }

    /// Records the signer's balance, what a full settlement batch may cost and the warning threshold,
    /// all in wei.
    pub fn set_signer_funds(&self, balance: u128, required: u128, warn: u128) {
        *lock(&self.signer_funds) = Some([balance as f64, required as f64, warn as f64]);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP piecepay_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE piecepay_http_requests_total counter\n");
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "piecepay_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP piecepay_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE piecepay_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
            h.render(
                &mut out,
                "piecepay_http_request_duration_seconds",
                &format!("route=\"{route}\","),
            );
        }
        out.push_str(
            "# HELP piecepay_settle_latency_seconds Time from a receipt's acknowledgement to its \
             settlement's confirmation, per settled receipt.\n",
        );
        out.push_str("# TYPE piecepay_settle_latency_seconds histogram\n");
        lock(&self.settle_latency)
            .get_or_insert_with(|| Histogram::new(SETTLE_BUCKETS))
            .render(&mut out, "piecepay_settle_latency_seconds", "");
        counter_family(
            &mut out,
            "piecepay_receipts_total",
            "Submitted receipts by outcome (accepted, duplicate, or the rejection code).",
            &lock(&self.receipts),
        );
        counter_family(
            &mut out,
            "piecepay_operations_total",
            "Submitted operations by outcome (queued, duplicate, or the rejection code).",
            &lock(&self.operations),
        );
        let scalars: [(&str, &str, &str, i64); 6] = [
            (
                "piecepay_settlement_batches_total",
                "counter",
                "Settlement batches handed to the submitter.",
                load(&self.batches_submitted),
            ),
            (
                "piecepay_settlement_batch_receipts_total",
                "counter",
                "Receipts in settlement batches.",
                load(&self.batch_receipts),
            ),
            (
                "piecepay_settlements_skipped_gas_total",
                "counter",
                "Settlement rounds held back because gas would cost too large a share of their value.",
                load(&self.batches_skipped_gas),
            ),
            (
                "piecepay_gas_used_total",
                "counter",
                "Gas used by the relayer's confirmed transactions.",
                load(&self.gas_used),
            ),
            (
                "piecepay_indexer_lag_blocks",
                "gauge",
                "Chain head minus the indexer's cursor (-1: unknown).",
                self.indexer_lag_blocks.load(Ordering::Relaxed),
            ),
            (
                "piecepay_leader",
                "gauge",
                "1 while this node runs the indexer, batcher and submitter.",
                self.leader.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in scalars {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        if let Some([balance, required, warn]) = *lock(&self.signer_funds) {
            for (name, help, value) in [
                (
                    "piecepay_signer_balance_wei",
                    "The signer's balance, in wei.",
                    balance,
                ),
                (
                    "piecepay_signer_balance_required_wei",
                    "What one full settlement batch may cost at the current gas price, in wei: below it gasless operations are refused.",
                    required,
                ),
                (
                    "piecepay_signer_balance_warn_wei",
                    "signer.warn_balance: below it the signer needs funds soon, in wei.",
                    warn,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        }
        out
    }
}

/// `piecepay_ready` (1 when `/readyz` would answer 200) and `piecepay_ready_check{check}` per check.
pub fn render_readiness(out: &mut String, readiness: &Readiness) {
    let _ = writeln!(
        out,
        "# HELP piecepay_ready 1 when /readyz answers 200, else 0.\n# TYPE piecepay_ready gauge\n\
         piecepay_ready {}",
        u8::from(readiness.status == ReadinessState::Ready)
    );
    out.push_str(
        "# HELP piecepay_ready_check Each check behind /readyz: 1 passed, 0 failed.\n\
         # TYPE piecepay_ready_check gauge\n",
    );
    for check in &readiness.checks {
        let _ = writeln!(
            out,
            "piecepay_ready_check{{check=\"{}\"}} {}",
            check.name,
            u8::from(check.ok)
        );
    }
}

/// The `piecepay_unsettled_*` gauges of `unsettled` at unix time `now` (read from the database at each
/// scrape, so every node of a cluster reports the same).
pub fn render_unsettled(out: &mut String, unsettled: &crate::store::Unsettled, now: u64) {
    let oldest = unsettled
        .oldest_since
        .map_or(0, |since| now.saturating_sub(since));
    for (name, help, value) in [
        (
            "piecepay_unsettled_value",
            "Value acknowledged and not settled on chain yet, in token base units.",
            unsettled.value,
        ),
        (
            "piecepay_unsettled_channels",
            "Channels holding a receipt above their settled total.",
            unsettled.channels as f64,
        ),
        (
            "piecepay_unsettled_oldest_seconds",
            "How long the oldest unsettled value has waited (0: none waits).",
            oldest as f64,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
}

fn counter_family(out: &mut String, name: &str, help: &str, values: &BTreeMap<&'static str, u64>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (outcome, n) in values {
        let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {n}");
    }
}

fn load(counter: &AtomicU64) -> i64 {
    i64::try_from(counter.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while counting leaves the counters usable: they are plain numbers.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.observe_request("/v1/receipts", 200, Duration::from_millis(3));
        metrics.count_receipts(["accepted", "accepted", "stale_receipt"]);
        let text = metrics.render();
        assert!(
            text.contains("piecepay_http_requests_total{route=\"/v1/receipts\",status=\"200\"} 1")
        );
        assert!(text.contains("piecepay_receipts_total{outcome=\"accepted\"} 2"));
        assert!(text.contains(
            "piecepay_http_request_duration_seconds_bucket{route=\"/v1/receipts\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "piecepay_http_request_duration_seconds_bucket{route=\"/v1/receipts\",le=\"0.002\"} 0"
        ));
    }
}
