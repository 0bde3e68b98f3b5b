//! [`RateLimiter`]: a token bucket per client address.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Buckets idle this long are forgotten (they are full again by then).
const IDLE: Duration = Duration::from_secs(600);

/// Table size past which idle buckets are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Per-client token buckets: `per_second` sustained, `burst` at once. A request takes one token; a
/// client with none left is told how long until it has one.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter; `per_second == 0` turns it off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`: `Ok` if it had one, else `Err(wait)` until it will.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > SWEEP_AT {
            buckets.retain(|_, b| now.duration_since(b.updated) < IDLE);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let limiter = RateLimiter::new(10, 3);
        let client = IpAddr::from([127, 0, 0, 1]);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(client, start).is_ok());
        }
        let wait = limiter.check(client, start).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        // Another client has its own bucket.
        assert!(limiter.check(IpAddr::from([127, 0, 0, 2]), start).is_ok());
        assert!(
            limiter
                .check(client, start + Duration::from_millis(100))
                .is_ok()
        );
    }

    #[test]
    fn zero_rate_is_off() {
        let limiter = RateLimiter::new(0, 0);
        let client = IpAddr::from([127, 0, 0, 1]);
        let now = Instant::now();
        assert!((0..1_000).all(|_| limiter.check(client, now).is_ok()));
    }
}
