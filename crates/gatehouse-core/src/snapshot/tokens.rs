//! Tokens by id, for token authentication: a token is found by the number its id spells.

use super::*;

/// Tokens by id, sharded like the name indexes. A token id is 16 hex digits, so its key is the number they
/// spell: no string is read or compared to find a token.
#[derive(Clone, Default)]
pub(super) struct TokenTable {
    pub(super) shards: Arc<Vec<Arc<HashTable<TokenEntry>>>>,
}

/// A token id's key; `None` for a string that is not a token id.
pub(crate) fn token_key(id: &str) -> Option<u64> {
    if id.len() != 16 {
        return None;
    }
    id.bytes().try_fold(0u64, |k, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some((k << 4) | u64::from(d))
    })
}

impl TokenTable {
    #[inline]
    pub(super) fn get(&self, h: u64, key: u64) -> Option<&TokenEntry> {
        self.shards.get((h >> (64 - SHARD_BITS)) as usize)?.find(h, |e| e.key == key)
    }

    pub(super) fn get_mut(&mut self, h: u64, key: u64) -> Option<&mut TokenEntry> {
        self.get(h, key)?;
        let shard = Arc::make_mut(Arc::make_mut(&mut self.shards).get_mut((h >> (64 - SHARD_BITS)) as usize)?);
        shard.find_mut(h, |e| e.key == key)
    }

    pub(super) fn insert(&mut self, hasher: &RandomState, h: u64, e: TokenEntry) {
        let shards = Arc::make_mut(&mut self.shards);
        if shards.is_empty() {
            shards.resize_with(SHARDS, || Arc::new(HashTable::new()));
        }
        let shard = Arc::make_mut(&mut shards[(h >> (64 - SHARD_BITS)) as usize]);
        match shard.find_mut(h, |x| x.key == e.key) {
            Some(x) => *x = e,
            None => {
                shard.insert_unique(h, e, |x| hasher.hash_one(x.key));
            }
        }
    }

    pub(super) fn remove(&mut self, h: u64, key: u64) -> Option<TokenEntry> {
        self.get(h, key)?;
        let shard = Arc::make_mut(Arc::make_mut(&mut self.shards).get_mut((h >> (64 - SHARD_BITS)) as usize)?);
        let (e, _) = shard.find_entry(h, |e| e.key == key).ok()?.remove();
        Some(e)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &TokenEntry> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }
}
