//! Handle tables: `slab` storage with a generation beside each slot (S5.7).
//!
//! The dispatcher keeps its client lookup handles, sessions and async calls in these, and a
//! provider may keep its lookup handles in one too (the mock providers do): a provider's
//! handle is an opaque 64-bit value ([`Handle::to_raw`]), and a table finds its state in O(1)
//! however many clients have lookups open, where a search tree keyed by handle took a few
//! cache misses per call.
//!
//! `slab` hands freed keys back LIFO, so a key alone would name a new object after the old one
//! was freed. A [`Handle`] is the key plus the generation the slot had when the object was
//! inserted; a handle whose generation no longer matches (closed, stale) or whose key was never
//! issued (forged) is refused, never a panic. Generations come from one counter per table, so
//! no two handles of a run are ever equal, and labels built on them are never reused.

use slab::Slab;
use std::marker::PhantomData;

/// A checked reference into a [`HandleTable<T>`].
pub struct Handle<T> {
    key: u32,
    generation: u32,
    _of: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// The handle's serial number: unique within its table for the whole run, counting from 1.
    pub fn serial(self) -> u32 {
        self.generation
    }

    /// Packs the handle into the opaque 64-bit value a client or provider holds.
    pub fn to_raw(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.key)
    }

    /// Unpacks an opaque value. Any value is accepted here; validity is decided by the table.
    pub fn from_raw(raw: u64) -> Self {
        Handle {
            key: raw as u32,
            generation: (raw >> 32) as u32,
            _of: PhantomData,
        }
    }
}

// Manual impls: derives would demand `T: Clone` etc., which a handle does not need.
impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}
impl<T> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.generation == other.generation
    }
}
impl<T> Eq for Handle<T> {}
impl<T> PartialOrd for Handle<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Handle<T> {
    /// Issue order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.generation.cmp(&other.generation)
    }
}
impl<T> std::hash::Hash for Handle<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        self.generation.hash(state);
    }
}
impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}@{}", self.generation, self.key)
    }
}

struct Slot<T> {
    generation: u32,
    value: T,
}

/// A slab of `T` addressed by generation-checked handles.
pub struct HandleTable<T> {
    slots: Slab<Slot<T>>,
    issued: u32,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable {
            slots: Slab::new(),
            issued: 0,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for HandleTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Issue order, so that two equal runs print alike.
        f.debug_map()
            .entries(
                self.handles()
                    .into_iter()
                    .filter_map(|h| Some((h, self.get(h)?))),
            )
            .finish()
    }
}

impl<T> HandleTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room for `additional` more values without growing.
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
    }

    /// Empties the table, keeping its room: it then issues the handles a new table would, from
    /// serial 1 (a driver making many runs on one thread reuses its tables).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.issued = 0;
    }

    /// Stores `value` and returns its fresh handle.
    pub fn insert(&mut self, value: T) -> Handle<T> {
        // Serials count from 1 so that the raw value 0 is never a live handle.
        self.issued = self.issued.saturating_add(1);
        let generation = self.issued;
        let key = self.slots.insert(Slot { generation, value });
        Handle {
            key: key as u32,
            generation,
            _of: PhantomData,
        }
    }

    /// The value behind a live handle; `None` for a closed, stale or forged one.
    pub fn get(&self, h: Handle<T>) -> Option<&T> {
        self.slots
            .get(h.key as usize)
            .filter(|slot| slot.generation == h.generation)
            .map(|slot| &slot.value)
    }

    /// [`HandleTable::get`], to change the value.
    pub fn get_mut(&mut self, h: Handle<T>) -> Option<&mut T> {
        self.slots
            .get_mut(h.key as usize)
            .filter(|slot| slot.generation == h.generation)
            .map(|slot| &mut slot.value)
    }

    /// Removes a live handle's value; `None` (and no change) for a dead one.
    pub fn remove(&mut self, h: Handle<T>) -> Option<T> {
        self.get(h)?;
        Some(self.slots.remove(h.key as usize).value)
    }

    /// Whether `h` is live.
    pub fn contains(&self, h: Handle<T>) -> bool {
        self.get(h).is_some()
    }

    /// How many handles this table has issued so far (the highest serial).
    pub fn issued(&self) -> u32 {
        self.issued
    }

    /// How many values are live.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no value is live.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Live handles in issue order (deterministic, unlike slot order after reuse).
    pub fn handles(&self) -> Vec<Handle<T>> {
        let mut all: Vec<_> = self
            .slots
            .iter()
            .map(|(key, slot)| Handle {
                key: key as u32,
                generation: slot.generation,
                _of: PhantomData,
            })
            .collect();
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_7_closed_handle_is_refused_even_when_its_slot_is_reused() {
        let mut table = HandleTable::new();
        let first = table.insert("first");
        assert_eq!(table.remove(first), Some("first"));
        let second = table.insert("second");
        // slab reuses the freed slot, but the old handle must not reach the new value.
        assert_eq!(table.get(first), None);
        assert_eq!(table.remove(first), None);
        assert_eq!(table.get(second), Some(&"second"));
        assert_ne!(first, second);
        assert!(second.serial() > first.serial());
    }

    #[test]
    fn s5_7_forged_handles_are_refused_without_panicking() {
        let mut table = HandleTable::new();
        let h = table.insert(7u8);
        for raw in [
            0,
            u64::MAX,
            h.to_raw() + 1,
            h.to_raw() ^ (1 << 40),
            0xdead_beef,
        ] {
            assert_eq!(table.get(Handle::from_raw(raw)), None, "{raw:#x}");
        }
        assert_eq!(table.get(Handle::from_raw(h.to_raw())), Some(&7));
    }

    #[test]
    fn a_cleared_table_issues_what_a_new_one_does() {
        let mut used = HandleTable::new();
        let old = used.insert('a');
        used.insert('b');
        used.clear();
        assert!(used.is_empty());
        assert_eq!(used.get(old), None);
        let mut fresh = HandleTable::new();
        for v in ['x', 'y', 'z'] {
            assert_eq!(used.insert(v), fresh.insert(v));
        }
        assert_eq!(used.issued(), fresh.issued());
    }

    #[test]
    fn handles_list_in_issue_order() {
        let mut table = HandleTable::new();
        let a = table.insert('a');
        let b = table.insert('b');
        table.remove(a);
        let c = table.insert('c'); // lands in a's old slot
        assert_eq!(table.handles(), vec![b, c]);
        assert_eq!(table.len(), 2);
    }
}
