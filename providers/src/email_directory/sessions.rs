//! The `email-directory` provider's session arguments and what each session holds.
//!
//! The provider makes its arguments itself ([`SessionTable::open_next`]), so it can make them
//! name their own place: the n-th session's argument is `BASE + (n << 4)`, and its state sits
//! at n's place in a queue that starts at the oldest session still open. Every session call
//! is then an index, where a search tree cost a few hundred instructions per Startup and
//! Cleanup; and sessions that ended before every open one leave the queue, so a long run keeps
//! room for the window of open sessions only, not for every session it ever had. An argument
//! the provider never made (forged, or null) names no session.

use smallvec::SmallVec;
use std::collections::VecDeque;

/// The arguments of this provider's own sessions: `BASE + (n << 4)` for the n-th, n ≥ 1.
const BASE: u64 = 0x5e55_0000;
/// The argument every session gets under the `shared-session` bug (no own session has it).
pub(super) const SHARED_ARG: u64 = 0x5e55_0001;

/// Per-session state.
#[derive(Debug, Default)]
pub(super) struct SessionState {
    /// The session's open lookup handles; inline for the usual few.
    pub handles: SmallVec<[u64; 2]>,
}

/// The open sessions, by argument.
#[derive(Debug)]
pub(super) struct SessionTable {
    /// The session of [`SHARED_ARG`].
    shared: Option<SessionState>,
    /// Own sessions `first..=issued`, in order; `None` for one that has ended. The front is
    /// always an open one (ended ones there are dropped), unless the queue is empty.
    own: VecDeque<Option<SessionState>>,
    /// The n of `own[0]`.
    first: u64,
    /// Own sessions opened so far: the last own argument's n.
    issued: u64,
    /// How many sessions are open, the shared one included.
    open: usize,
}

impl Default for SessionTable {
    fn default() -> Self {
        SessionTable {
            shared: None,
            own: VecDeque::new(),
            first: 1,
            issued: 0,
            open: 0,
        }
    }
}

/// Where an argument's session is kept.
enum Place {
    Shared,
    /// The n of an own session.
    Own(u64),
}

/// The place an argument names, if it is one this provider could have made.
fn place_of(raw: u64) -> Option<Place> {
    if raw == SHARED_ARG {
        return Some(Place::Shared);
    }
    let offset = raw.checked_sub(BASE)?;
    if offset & 0xf != 0 || offset == 0 {
        return None;
    }
    Some(Place::Own(offset >> 4))
}

impl SessionTable {
    /// Opens a new session of this provider's own and returns its argument.
    pub fn open_next(&mut self) -> u64 {
        self.issued += 1;
        self.own.push_back(Some(SessionState::default()));
        self.open += 1;
        BASE + (self.issued << 4)
    }

    /// Opens the shared session unless it is open already (every Startup opens it under the
    /// `shared-session` bug).
    pub fn open_shared(&mut self) {
        if self.shared.is_none() {
            self.shared = Some(SessionState::default());
            self.open += 1;
        }
    }

    pub fn contains(&self, raw: u64) -> bool {
        self.get(raw).is_some()
    }

    /// The seat of `raw`'s session, open or ended, if it has one still.
    fn seat(&self, raw: u64) -> Option<&Option<SessionState>> {
        match place_of(raw)? {
            Place::Shared => Some(&self.shared),
            Place::Own(n) => self
                .own
                .get(usize::try_from(n.checked_sub(self.first)?).ok()?),
        }
    }

    fn seat_mut(&mut self, raw: u64) -> Option<&mut Option<SessionState>> {
        match place_of(raw)? {
            Place::Shared => Some(&mut self.shared),
            Place::Own(n) => {
                let i = usize::try_from(n.checked_sub(self.first)?).ok()?;
                self.own.get_mut(i)
            }
        }
    }

    fn get(&self, raw: u64) -> Option<&SessionState> {
        self.seat(raw)?.as_ref()
    }

    pub fn get_mut(&mut self, raw: u64) -> Option<&mut SessionState> {
        self.seat_mut(raw)?.as_mut()
    }

    /// Ends the session of `raw`, handing back what it held.
    pub fn remove(&mut self, raw: u64) -> Option<SessionState> {
        let state = self.seat_mut(raw)?.take()?;
        self.open -= 1;
        while let Some(None) = self.own.front() {
            self.own.pop_front();
            self.first += 1;
        }
        Some(state)
    }

    /// Ends every session (arguments already issued are not issued again).
    pub fn clear(&mut self) {
        self.shared = None;
        self.own.clear();
        self.first = self.issued + 1;
        self.open = 0;
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_and_shared_arguments_name_their_slots_and_nothing_else_does() {
        let mut table = SessionTable::default();
        let first = table.open_next();
        let second = table.open_next();
        assert_eq!((first, second), (0x5e55_0010, 0x5e55_0020));
        table.open_shared();
        table.open_shared();
        assert_eq!(table.len(), 3);
        for forged in [0, 1, BASE, BASE + 8, BASE + 0x30, u64::MAX] {
            assert!(!table.contains(forged));
            assert!(table.remove(forged).is_none());
        }
        assert!(table.remove(first).is_some());
        assert!(table.remove(first).is_none());
        assert_eq!(table.len(), 2);
        assert!(table.contains(second) && table.contains(SHARED_ARG));
        table.clear();
        assert_eq!(table.len(), 0);
        assert!(!table.contains(second) && !table.contains(SHARED_ARG));
        assert_eq!(table.open_next(), 0x5e55_0030);
    }

    /// A long run's table holds the window of open sessions, not every session it had: the
    /// ended ones before the oldest open one leave.
    #[test]
    fn ended_sessions_before_every_open_one_take_no_room() {
        let mut table = SessionTable::default();
        let oldest = table.open_next();
        let mut previous = table.open_next();
        for _ in 0..1_000 {
            let next = table.open_next();
            assert!(table.remove(previous).is_some());
            previous = next;
        }
        // `oldest` holds the front: every ended session after it keeps its seat.
        assert_eq!(table.own.len(), 1_002);
        assert!(table.remove(oldest).is_some());
        assert_eq!(table.own.len(), 1);
        assert_eq!(table.len(), 1);
        assert!(table.contains(previous));
        assert!(!table.contains(oldest));
        assert!(table.remove(previous).is_some());
        assert!(table.own.is_empty());
        assert_eq!(table.open_next(), BASE + (1_003 << 4));
    }
}
