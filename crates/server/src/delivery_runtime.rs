//! The runtime the dispatcher's lanes run on: threads of their own at a lower CPU
//! priority than the API's, so that when the CPU is short, taking events in goes first
//! and sending them out uses what is left. What is published is durable before it is
//! answered; deliveries that fall behind in a burst catch up once it is over, and never
//! stop: a lower priority is a smaller share of a busy CPU, not none. On an idle CPU it
//! changes nothing.

use std::io;

/// The lanes' runtime. Dropping it, once the dispatcher has stopped, lets go of what it
/// still holds (idle connections) without waiting, so it may be dropped in async code.
pub struct DeliveryRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl DeliveryRuntime {
    /// Starts as many threads as the machine has cores, each lowering its own priority
    /// by `niceness` (0–19, as `nice`; 0 leaves them level with the API).
    pub fn start(niceness: u8) -> io::Result<DeliveryRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("delivery")
            .enable_all()
            .on_thread_start(move || lower_priority(niceness))
            .build()?;
        Ok(DeliveryRuntime {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("present until dropped")
            .handle()
    }
}

impl Drop for DeliveryRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's priority by `niceness`. Linux schedules threads one by one,
/// so this leaves the rest of the process where it was. A refusal is only logged: the
/// lanes then share the CPU with the API evenly.
#[cfg(target_os = "linux")]
fn lower_priority(niceness: u8) {
    if niceness == 0 {
        return;
    }
    // SAFETY: getpriority and setpriority read and set the scheduling priority of the
    // calling thread (`who` 0) and touch no memory of ours; errno is this thread's.
    let result = unsafe {
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(
            libc::PRIO_PROCESS,
            0,
            now.saturating_add(i32::from(niceness)).min(19),
        )
    };
    if result != 0 {
        tracing::warn!(
            error = %io::Error::last_os_error(),
            "cannot lower the delivery threads' priority; they share the CPU with the API evenly"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_niceness: u8) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// This thread's niceness, as the kernel reports it.
    fn niceness() -> i32 {
        // SAFETY: as in `lower_priority`; a niceness of -1 is told from an error by errno,
        // and the calling thread's priority can always be read.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn the_delivery_threads_run_below_the_rest_and_only_they_do() {
        let before = niceness();
        let runtime = DeliveryRuntime::start(5).unwrap();
        let theirs = runtime
            .handle()
            .block_on(async { tokio::spawn(async { niceness() }).await.unwrap() });
        assert_eq!(theirs, (before + 5).min(19));
        assert_eq!(niceness(), before, "the calling thread keeps its priority");

        let level = DeliveryRuntime::start(0).unwrap();
        let theirs = level
            .handle()
            .block_on(async { tokio::spawn(async { niceness() }).await.unwrap() });
        assert_eq!(theirs, before);
    }
}
