//! Labels for the opaque values providers produce (docs/trace-format.md): session arguments
//! (`s1, s2, …`) and provider lookup handles (`h1, …`). Dispatcher-issued handles (client
//! lookups, async calls) are labelled by their handle's serial number instead, which is never
//! reused (S5.7, S6.1).

use crate::event::{Label, LabelKind};
use crate::wsa::Guid;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

#[derive(Default)]
pub(super) struct Labels {
    next_session: u32,
    next_lookup: u32,
    /// Live session arguments by (provider, raw value): the label and how many live sessions
    /// carry it. A value two sessions share (a provider bug) shows as one label.
    sessions: BTreeMap<(Guid, u64), (u32, u32)>,
}

impl Labels {
    pub fn acquire_session(&mut self, provider: Guid, raw: u64) -> Label {
        let entry = self.sessions.entry((provider, raw)).or_insert_with(|| {
            self.next_session += 1;
            (self.next_session, 0)
        });
        entry.1 += 1;
        Label::new(LabelKind::Session, entry.0)
    }

    pub fn release_session(&mut self, provider: Guid, raw: u64) {
        // Through the entry: one search of the tree, not a second one to remove it.
        if let Entry::Occupied(mut entry) = self.sessions.entry((provider, raw)) {
            entry.get_mut().1 -= 1;
            if entry.get().1 == 0 {
                entry.remove();
            }
        }
    }

    pub fn fresh_lookup(&mut self) -> Label {
        self.next_lookup += 1;
        Label::new(LabelKind::ProviderLookup, self.next_lookup)
    }
}
