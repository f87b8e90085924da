//! How live mode's threads wait for a message: polled for a short while, then parked.
//!
//! A provider call in live mode is a round trip between the dispatcher thread and the
//! provider's host thread, and a dispatcher call step waits for a client's request. A thread
//! that parks on an empty channel is woken by the kernel when the message comes; on a virtual
//! machine whose other vCPU went idle that wake-up alone costs tens of microseconds, many times
//! the round trip itself (the `live_floor_round_trip` bench). Polling first keeps a round trip
//! that is answered quickly off the kernel's wake-up path. The poll is bounded ([`SPIN`]) and
//! yields the CPU between tries, so on a busy machine the other threads (a provider's host
//! thread on the same core) still run.
//!
//! Only when a message arrives depends on this, never what it is or in which order messages
//! are taken: a channel is still read in arrival order, and nothing here reaches a trace.

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How long a waiting thread polls its channel before it parks.
pub const SPIN: Duration = Duration::from_micros(50);

/// Receives from `rx` within `deadline` (counted from the call), polling for up to `spin`
/// (never past the deadline) before parking.
pub fn recv_deadline<T>(
    rx: &Receiver<T>,
    spin: Duration,
    deadline: Duration,
) -> Result<T, RecvTimeoutError> {
    let spin = spin.min(deadline);
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        let waited = start.elapsed();
        if waited >= spin {
            return rx.recv_timeout(deadline.saturating_sub(waited));
        }
        std::thread::yield_now();
    }
}

/// Receives from `rx` with no deadline, polling for up to `spin` before parking; `None`
/// once every sender is gone.
pub fn recv<T>(rx: &Receiver<T>, spin: Duration) -> Option<T> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if start.elapsed() >= spin {
            return rx.recv().ok();
        }
        std::thread::yield_now();
    }
}
