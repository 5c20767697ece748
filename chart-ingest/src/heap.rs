//! Handing freed memory back to the system.
//!
//! glibc's malloc keeps what a thread frees in that thread's arena for its next
//! allocations, and past its (adaptive) mmap threshold even large blocks come from
//! the arenas: after a day's close (a sort and a digest over a day of plays) or a
//! build of the live month, hundreds of MiB freed on one thread stayed resident while
//! the live month grew on another. Trimming after those moments keeps the service's
//! RSS near what it holds.

/// Returns the memory freed in every malloc arena to the system (glibc only; other
/// allocators return it themselves or are left as they are).
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
