//! The flow table's index: slot numbers found by their flow key's hash, in an open-addressing
//! table with linear probing. Its own (rather than hashbrown's) so that the bucket a hash
//! lands in is known before the lookup: the pipeline prefetches it a few packets ahead.

/// One bucket, 8 bytes: the low 32 bits of the hash (they also give the home bucket: the
/// table never has 2^32 buckets) and the slot number.
#[derive(Clone, Copy)]
struct Bucket {
    hash: u32,
    slot: u32,
}

/// The part of a hash a bucket keeps.
#[inline]
fn low(hash: u64) -> u32 {
    hash as u32
}

const EMPTY: u32 = u32::MAX;

/// Slot numbers by hash; at most three quarters full.
pub(crate) struct SlotIndex {
    buckets: Vec<Bucket>,
    mask: usize,
    len: usize,
}

impl SlotIndex {
    pub(crate) fn new() -> Self {
        SlotIndex {
            buckets: vec![
                Bucket {
                    hash: 0,
                    slot: EMPTY
                };
                16
            ],
            mask: 15,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Prefetches the bucket where a lookup of `hash` starts.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        crate::prefetch::prefetch(&self.buckets[hash as usize & self.mask]);
    }

    /// The slot of the first bucket in `hash`'s run whose hash is `hash`: nearly always the
    /// one a lookup finds, known without reading a slot. A flow pushed out of its home
    /// bucket by a collision is found too (a fifth of them at the load of 50 000 flows),
    /// so its slot is prefetched like the others.
    #[inline]
    pub(crate) fn first(&self, hash: u64) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// The slot whose hash is `hash` and for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = hash as usize & self.mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return None;
            }
            if b.hash == low(hash) && eq(b.slot) {
                return Some(b.slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `slot` under `hash` (the caller knows it is not there yet).
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        self.place(low(hash), slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u32, slot: u32) {
        let mut i = hash as usize & self.mask;
        while self.buckets[i].slot != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = Bucket { hash, slot };
    }

    fn grow(&mut self) {
        let old = std::mem::replace(
            &mut self.buckets,
            vec![
                Bucket {
                    hash: 0,
                    slot: EMPTY
                };
                (self.mask + 1) * 2
            ],
        );
        self.mask = self.buckets.len() - 1;
        for b in old {
            if b.slot != EMPTY {
                self.place(b.hash, b.slot);
            }
        }
    }

    /// Removes every entry (keeping the buckets' memory).
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(Bucket {
            hash: 0,
            slot: EMPTY,
        });
        self.len = 0;
    }

    /// Removes `slot` (stored under `hash`), shifting later entries of its run back so
    /// that no lookup stops early (no tombstones).
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let mut i = hash as usize & self.mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return false;
            }
            if b.slot == slot {
                break;
            }
            i = (i + 1) & self.mask;
        }
        self.len -= 1;
        let mut j = i;
        loop {
            self.buckets[i].slot = EMPTY;
            loop {
                j = (j + 1) & self.mask;
                let b = self.buckets[j];
                if b.slot == EMPTY {
                    return true;
                }
                let home = b.hash as usize & self.mask;
                // The entry at j may fill the hole at i unless its home lies cyclically in
                // (i, j].
                let stays = if i <= j {
                    i < home && home <= j
                } else {
                    i < home || home <= j
                };
                if !stays {
                    self.buckets[i] = b;
                    i = j;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map_under_churn() {
        // Random inserts and removes with many colliding hashes, checked against a map.
        let mut idx = SlotIndex::new();
        let mut live: Vec<(u32, u64)> = Vec::new();
        let mut seed = 3u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for step in 0..50_000u32 {
            let r = next();
            if r % 3 != 0 || live.is_empty() {
                // Few distinct low bits: long runs and wrap-around.
                let hash = (next() % 1024) | (next() << 20);
                idx.insert(hash, step);
                live.push((step, hash));
            } else {
                let (slot, hash) = live.swap_remove(r as usize % live.len());
                assert!(idx.remove(hash, slot));
                assert_eq!(idx.find(hash, |s| s == slot), None);
            }
            if step % 4999 == 0 {
                let mut same_low = std::collections::HashMap::new();
                for &(_, hash) in &live {
                    *same_low.entry(low(hash)).or_insert(0) += 1;
                }
                for &(slot, hash) in &live {
                    assert_eq!(idx.find(hash, |s| s == slot), Some(slot), "step {step}");
                    // The prefetch's guess, also for entries far from their home bucket.
                    if same_low[&low(hash)] == 1 {
                        assert_eq!(idx.first(hash), Some(slot), "step {step}");
                    }
                }
                assert_eq!(idx.len(), live.len());
            }
        }
        assert!(!idx.remove(12345, u32::MAX - 1));
    }
}
