//! How every run ends (spec §7.2): a ten-second countdown on the console, then `reboot(2)`.

use std::time::Duration;

/// Counts down from `secs` to 0 in one-second steps, logging each, then restarts the machine.
/// Returns only if the reboot call fails (then the caller has nothing left but to wait).
pub async fn countdown_and_reboot(secs: u64) -> std::io::Error {
    for n in (0..=secs).rev() {
        tracing::info!("rebooting in {n} seconds");
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    // Flush what the kernel has buffered for the disks we may have written.
    rustix::fs::sync();
    match rustix::system::reboot(rustix::system::RebootCommand::Restart) {
        Ok(()) => std::io::Error::other("reboot returned"),
        Err(e) => e.into(),
    }
}
