//! A map kept as a sorted vector ([`VecMap`]), for the few tables of a run that are looked up
//! on nearly every event and must iterate in key order (deterministically, like a `BTreeMap`).

use crate::event::{Label, Pid, Tid};
use crate::wsa::Guid;

/// A key that usually knows its place in a [`VecMap`]: pids, and labels of handles and async
/// calls, are numbered 1, 2, … in the order they are made and mostly all recorded, so the
/// key numbered `n` sits at index `n - 1`. That is only a guess, checked before use: a key
/// whose guess misses (a gap, a trace read from a file) is found by binary search.
pub(crate) trait Placed {
    fn place(&self) -> Option<usize> {
        None
    }
}

impl Placed for Pid {
    fn place(&self) -> Option<usize> {
        (self.0 as usize).checked_sub(1)
    }
}

impl Placed for Label {
    fn place(&self) -> Option<usize> {
        (self.n as usize).checked_sub(1)
    }
}

impl Placed for Guid {}
impl Placed for (Pid, Tid) {}

/// A map kept as a vector sorted by key: iterates in key order like a `BTreeMap`, but a run's
/// processes, providers, handles and async calls, whose keys mostly arrive in increasing
/// order, cost one growing vector instead of tree nodes, and a key that knows its place
/// ([`Placed`]) is found there without a search: with thousands of processes, a binary
/// search's cache misses were a tenth of an event's cost. The checker looks something up in
/// one of these for nearly every event; the dispatcher keeps its advertised providers in one
/// (a handful, looked up two or three times per provider call).
#[derive(Debug)]
pub(crate) struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

// Manual: a derive would demand `K: Default` and `V: Default`.
impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord + Placed, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn find(&self, k: &K) -> Result<usize, usize> {
        if let Some(at) = k.place()
            && self.entries.get(at).is_some_and(|(e, _)| e == k)
        {
            return Ok(at);
        }
        // Keys usually arrive in order: check the end before searching.
        match self.entries.last() {
            Some((last, _)) if last < k => Err(self.entries.len()),
            _ => self.entries.binary_search_by(|(e, _)| e.cmp(k)),
        }
    }

    #[inline]
    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    pub fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.entries[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|i| &mut self.entries[i].1)
    }

    /// Inserts or replaces, like `BTreeMap::insert`.
    #[inline]
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, v)),
            Err(i) => {
                self.entries.insert(i, (k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.find(k).ok().map(|i| self.entries.remove(i).1)
    }

    /// The value of `k`, inserted with `make` first when absent.
    #[inline]
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&k) {
            Ok(i) => i,
            Err(i) => self.insert_at(i, k, make()),
        };
        &mut self.entries[i].1
    }

    /// Puts an absent key where [`VecMap::find`] placed it. Out of line: a key is inserted
    /// once and looked up many times, and the lookups stay small enough to inline.
    #[cold]
    fn insert_at(&mut self, i: usize, k: K, v: V) -> usize {
        self.entries.insert(i, (k, v));
        i
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.into_iter()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Empties the map, keeping its room for the next run.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}
