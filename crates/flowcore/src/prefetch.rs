//! The one place flowcore uses `unsafe`: a cache prefetch hint. The flow table's lookups
//! miss the cache once or twice per packet (one DRAM round trip each with tens of
//! thousands of flows, measured at 59 % + 17 % of the table's time); prefetching the
//! buckets and slots of the next packets lets those misses overlap. See benches/README.md.
#![allow(unsafe_code)]

/// Asks the processor to bring the cache line of `r` into the cache. Only a hint: it
/// changes no state a program can observe and never faults.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    prefetch_at(r, 0);
}

/// Asks the processor to bring the cache line `offset` bytes past `r` into the cache (for
/// the second line of a larger value). Only a hint, like [`prefetch`]: the address need not
/// be valid, since a prefetch never faults.
#[inline(always)]
pub(crate) fn prefetch_at<T>(r: &T, offset: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing architecturally and cannot fault, on any address;
    // `wrapping_add` forms the address without dereferencing it. `sse` is part of the
    // x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>().wrapping_add(offset),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (r, offset);
}
