//! The mock providers' handle tables: what a provider keeps per lookup handle, found by the
//! handle in O(1) however many are open.
//!
//! A C provider's handle is usually a pointer to its state; here it is a slab key, with the
//! serial number of the insert beside it so that a handle already freed is told apart from a
//! newer one that reuses the slot. That is what lets a mock notice a handle used after
//! NSPv2LookupServiceEnd freed it (the `complete-after-end` bug, P3) instead of reading
//! someone else's lookup.
//!
//! A search tree keyed by handle cost a few cache misses per call once thousands of clients
//! had lookups open, which made a step dearer with more processes (issue 16). Handles are
//! deterministic: the same calls in the same order give the same values.

use slab::Slab;

/// Values of type `T` by handle: `(serial << 32) | slot`. Serials count inserts from 1 (a
/// handle whose high half is 0 is never valid); after 2^32 − 1 inserts they wrap past 0, so
/// only a handle freed that many inserts ago could alias a live one.
#[derive(Debug)]
pub(crate) struct Table<T> {
    slots: Slab<(u32, T)>,
    serial: u32,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            slots: Slab::new(),
            serial: 0,
        }
    }
}

impl<T> Table<T> {
    /// Stores `value`; returns its handle.
    pub fn insert(&mut self, value: T) -> u64 {
        self.serial = self.serial.checked_add(1).unwrap_or(1);
        let slot = self.slots.insert((self.serial, value));
        (u64::from(self.serial) << 32) | slot as u64
    }

    /// The slot of a handle, if it names a live value.
    fn slot(&self, handle: u64) -> Option<usize> {
        let (serial, slot) = ((handle >> 32) as u32, (handle & 0xffff_ffff) as usize);
        match self.slots.get(slot) {
            Some((s, _)) if *s == serial && serial != 0 => Some(slot),
            _ => None,
        }
    }

    pub fn contains(&self, handle: u64) -> bool {
        self.slot(handle).is_some()
    }

    pub fn get_mut(&mut self, handle: u64) -> Option<&mut T> {
        let slot = self.slot(handle)?;
        self.slots.get_mut(slot).map(|(_, v)| v)
    }

    pub fn remove(&mut self, handle: u64) -> Option<T> {
        let slot = self.slot(handle)?;
        Some(self.slots.remove(slot).1)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn a_freed_handle_stays_invalid_when_its_slot_is_reused() {
        let mut t = Table::default();
        let a = t.insert("a");
        assert_eq!(t.remove(a), Some("a"));
        let b = t.insert("b");
        assert_ne!(a, b, "the slot is reused under a new serial");
        assert!(!t.contains(a));
        assert_eq!(t.get_mut(a), None);
        assert_eq!(t.remove(a), None);
        assert_eq!(t.get_mut(b), Some(&mut "b"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn handles_nobody_issued_name_nothing() {
        let mut t = Table::default();
        let a = t.insert(1);
        for forged in [0, 1, a & 0xffff_ffff, a + 1, a ^ (1 << 40), u64::MAX] {
            assert!(!t.contains(forged), "{forged:#x}");
        }
        assert!(t.contains(a));
    }

    #[test]
    fn the_same_inserts_give_the_same_handles() {
        let run = || {
            let mut t = Table::default();
            let a = t.insert(());
            let b = t.insert(());
            t.remove(a);
            [a, b, t.insert(()), t.insert(())]
        };
        assert_eq!(run(), run());
    }
}
