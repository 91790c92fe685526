//! Copy-on-write building blocks: chunked tables, shared sorted lists, sharded name indexes.

use super::*;

/// A vector of entries indexed by id, in chunks shared between snapshots until written.
pub(crate) struct Slots<T> {
    pub(super) chunks: Arc<Vec<Arc<Vec<T>>>>,
    pub(super) len: u32,
}

impl<T> Clone for Slots<T> {
    fn clone(&self) -> Self {
        Slots { chunks: Arc::clone(&self.chunks), len: self.len }
    }
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { chunks: Arc::new(Vec::new()), len: 0 }
    }
}

impl<T> Slots<T> {
    /// Ids come only from this table's own index, so they are always in range.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> &T {
        &self.chunks[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)]
    }

    pub(super) fn len(&self) -> u32 {
        self.len
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

impl<T: Clone> Slots<T> {
    pub(super) fn get_mut(&mut self, id: u32) -> &mut T {
        let chunks = Arc::make_mut(&mut self.chunks);
        &mut Arc::make_mut(&mut chunks[(id >> CHUNK_BITS) as usize])[id as usize & (CHUNK - 1)]
    }

    pub(super) fn push(&mut self, v: T) -> u32 {
        let id = self.len;
        let chunks = Arc::make_mut(&mut self.chunks);
        match chunks.last_mut() {
            Some(c) if c.len() < CHUNK => Arc::make_mut(c).push(v),
            _ => {
                chunks.push(Arc::new(vec![v]));
            }
        }
        self.len += 1;
        id
    }
}

/// A small sorted array shared between snapshots; edits build a new one, so only lists that change are copied.
pub(crate) struct List<T>(Option<Arc<[T]>>);

impl<T> Clone for List<T> {
    fn clone(&self) -> Self {
        List(self.0.clone())
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<T: Copy> List<T> {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        self.0.as_deref().unwrap_or(&[])
    }

    pub(super) fn from_vec(v: Vec<T>) -> Self {
        // Empty lists hold no allocation: most users hold no grants and own no tokens.
        if v.is_empty() {
            List(None)
        } else {
            List(Some(v.into()))
        }
    }

    pub(super) fn edit(&mut self, f: impl FnOnce(&mut Vec<T>)) {
        let mut v = self.as_slice().to_vec();
        f(&mut v);
        *self = List::from_vec(v);
    }

    /// Inserts or replaces the entry with `key`, keeping the list sorted by key.
    pub(super) fn upsert<K: Ord>(&mut self, v: T, key: impl Fn(&T) -> K) {
        self.edit(|xs| match xs.binary_search_by(|x| key(x).cmp(&key(&v))) {
            Ok(i) => xs[i] = v,
            Err(i) => xs.insert(i, v),
        });
    }

    /// Removes the first entry `pred` accepts, in a list not sorted by what it looks for.
    pub(super) fn remove_where(&mut self, pred: impl Fn(&T) -> bool) {
        if let Some(i) = self.as_slice().iter().position(pred) {
            self.edit(|xs| {
                xs.remove(i);
            });
        }
    }

    pub(super) fn remove_by<K: Ord>(&mut self, k: K, key: impl Fn(&T) -> K) {
        if let Ok(i) = self.as_slice().binary_search_by(|x| key(x).cmp(&k)) {
            self.edit(|xs| {
                xs.remove(i);
            });
        }
    }
}

/// One shard of a name index: open addressing with linear probing over words `tag << 32 | id`, where `tag`
/// is the low half of the name's hash. A probe reads one word array (no separate control bytes), and names
/// are never removed, so there are no tombstones.
#[derive(Clone)]
pub(super) struct Shard {
    pub(super) words: Arc<[u64]>,
    pub(super) len: u32,
}

pub(super) const EMPTY: u64 = u64::MAX;

#[inline]
pub(super) fn shard_of(h: u64) -> usize {
    (h >> (64 - SHARD_BITS)) as usize
}

pub(super) fn place(words: &mut [u64], w: u64) {
    let mask = words.len() - 1;
    let mut i = (w >> 32) as usize & mask;
    while words[i] != EMPTY {
        i = (i + 1) & mask;
    }
    words[i] = w;
}

/// Name hash to id, sharded by the hash's top bits so a new name copies one shard. It stores ids only; the
/// names are in the entries.
#[derive(Clone, Default)]
pub(super) struct NameIndex {
    pub(super) shards: Arc<Vec<Shard>>,
}

impl NameIndex {
    #[inline]
    pub(super) fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let words = &*self.shards.get(shard_of(h))?.words;
        if words.is_empty() {
            return None;
        }
        let mask = words.len() - 1;
        let tag = h as u32;
        let mut i = tag as usize & mask;
        loop {
            let w = words[i];
            if w == EMPTY {
                return None;
            }
            if (w >> 32) as u32 == tag && eq(w as u32) {
                return Some(w as u32);
            }
            i = (i + 1) & mask;
        }
    }

    pub(super) fn insert(&mut self, h: u64, id: u32) {
        let shards = Arc::make_mut(&mut self.shards);
        if shards.is_empty() {
            let none: Arc<[u64]> = Arc::from(Vec::new());
            shards.resize(SHARDS, Shard { words: none, len: 0 });
        }
        let shard = &mut shards[shard_of(h)];
        // At most three quarters full: probes stay short and always meet an empty word.
        if (shard.len as usize + 1) * 4 > shard.words.len() * 3 {
            let mut words = vec![EMPTY; (shard.words.len() * 2).max(8)];
            for w in shard.words.iter().filter(|w| **w != EMPTY) {
                place(&mut words, *w);
            }
            shard.words = words.into();
        }
        place(Arc::make_mut(&mut shard.words), (u64::from(h as u32) << 32) | u64::from(id));
        shard.len += 1;
    }
}

/// Entries of one kind with their name index.
#[derive(Clone)]
pub(crate) struct Catalog<S> {
    pub(crate) slots: Slots<S>,
    pub(super) index: NameIndex,
}

impl<S> Default for Catalog<S> {
    fn default() -> Self {
        Catalog { slots: Slots::default(), index: NameIndex::default() }
    }
}

impl<S: Clone> Catalog<S> {
    #[inline]
    pub(super) fn find(&self, h: u64, eq: impl Fn(&S) -> bool) -> Option<u32> {
        self.index.find(h, |id| eq(self.slots.get(id)))
    }

    pub(super) fn intern(&mut self, h: u64, eq: impl Fn(&S) -> bool, make: impl FnOnce() -> S) -> u32 {
        if let Some(id) = self.find(h, eq) {
            return id;
        }
        let id = self.slots.push(make());
        self.index.insert(h, id);
        id
    }
}
