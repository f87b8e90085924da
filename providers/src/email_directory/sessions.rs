//! The `email-directory` provider's session arguments and what each session holds.
//!
//! The provider makes its arguments itself ([`SessionTable::open_next`]), so it can make them
//! name their own slot: the n-th session's argument is `BASE + (n << 4)`, and its state sits at
//! index n of a vector. Every session call is then an index, where a search tree cost a few
//! hundred instructions per Startup and Cleanup (its node allocated and freed with the instance
//! of every seed). An argument the provider never made (forged, or null) names no slot.

use smallvec::SmallVec;

/// The arguments of this provider's own sessions: `BASE + (n << 4)` for the n-th, n ≥ 1.
const BASE: u64 = 0x5e55_0000;
/// The argument every session gets under the `shared-session` bug (slot 0, which no own
/// session uses).
pub(super) const SHARED_ARG: u64 = 0x5e55_0001;

/// Per-session state.
#[derive(Debug, Default)]
pub(super) struct SessionState {
    /// The session's open lookup handles; inline for the usual few.
    pub handles: SmallVec<[u64; 2]>,
}

/// The open sessions, by argument.
#[derive(Debug, Default)]
pub(super) struct SessionTable {
    /// Index n holds the state of the session whose argument names slot n.
    slots: Vec<Option<SessionState>>,
    /// How many slots are `Some`.
    open: usize,
    /// Sessions opened so far (not counting the shared one): the last own argument's n.
    issued: u64,
}

/// The slot an argument names, if it is one this provider could have made.
fn slot_of(raw: u64) -> Option<usize> {
    if raw == SHARED_ARG {
        return Some(0);
    }
    let offset = raw.checked_sub(BASE)?;
    if offset & 0xf != 0 || offset == 0 {
        return None;
    }
    usize::try_from(offset >> 4).ok()
}

impl SessionTable {
    /// Opens a new session of this provider's own and returns its argument.
    pub fn open_next(&mut self) -> u64 {
        self.issued += 1;
        let raw = BASE + (self.issued << 4);
        self.open(raw);
        raw
    }

    /// Opens the session of `raw` unless it is open already (the shared argument is opened
    /// by every Startup under the `shared-session` bug).
    pub fn open(&mut self, raw: u64) {
        let Some(slot) = slot_of(raw) else { return };
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        if self.slots[slot].is_none() {
            self.slots[slot] = Some(SessionState::default());
            self.open += 1;
        }
    }

    pub fn contains(&self, raw: u64) -> bool {
        self.get(raw).is_some()
    }

    fn get(&self, raw: u64) -> Option<&SessionState> {
        self.slots.get(slot_of(raw)?)?.as_ref()
    }

    pub fn get_mut(&mut self, raw: u64) -> Option<&mut SessionState> {
        self.slots.get_mut(slot_of(raw)?)?.as_mut()
    }

    /// Ends the session of `raw`, handing back what it held.
    pub fn remove(&mut self, raw: u64) -> Option<SessionState> {
        let state = self.slots.get_mut(slot_of(raw)?)?.take()?;
        self.open -= 1;
        Some(state)
    }

    /// Ends every session (arguments already issued are not issued again).
    pub fn clear(&mut self) {
        self.slots.clear();
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
        table.open(SHARED_ARG);
        assert_eq!(table.len(), 3);
        for forged in [0, 1, BASE, BASE + 8, BASE + 0x30, u64::MAX] {
            assert!(!table.contains(forged));
            assert!(table.remove(forged).is_none());
        }
        assert!(table.remove(first).is_some());
        assert!(table.remove(first).is_none());
        assert_eq!(table.len(), 2);
        table.clear();
        assert_eq!(table.len(), 0);
        assert_eq!(table.open_next(), 0x5e55_0030);
    }
}
