//! Child processes that are stopped politely: SIGTERM, a grace period, then SIGKILL; always reaped.

use std::time::Duration;

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::process::Child;

/// How long a child gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);

/// Sends SIGTERM to `child`, waits up to `grace` for it to exit, then kills it; returns once it is reaped.
pub async fn stop(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        // The child may have exited since try_wait: ESRCH is fine, it is reaped below.
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
