//! The process's allocator settings.
//!
//! glibc's malloc gives threads that allocate at the same time arenas of their own, up
//! to eight per core, and memory freed in one arena serves only that arena. DataFusion
//! allocates and frees batches on every runtime thread, so under a memory limit the
//! freed memory stayed spread over many arenas: `publish --memory-limit 900M` at 51M
//! plays peaked at 996 to 1,033 MiB of RSS, and at about 780 MiB with one arena per
//! core (docs/PERFORMANCE.md).

/// Limits glibc's malloc to one arena per core, unless `MALLOC_ARENA_MAX` says
/// otherwise. Call before starting any thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn one_arena_per_core() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt sets one of malloc's parameters; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Other allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn one_arena_per_core() {}

/// Blocks from this size up are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const LARGE_BLOCK: libc::c_int = 1 << 20;

/// Gives every block of 1 MiB or more its own mapping, returned to the system as soon as
/// it is freed, unless `MALLOC_MMAP_THRESHOLD_` says otherwise. For the service, whose
/// large buffers (a day's close, a fold, a refresh) come and go beside a live month
/// that stays: glibc otherwise raises that size to 32 MiB as large blocks are freed, and
/// the freed blocks stayed in the arenas, beside whatever came next. Fed the 50M month,
/// the service peaked at 1,188 MiB of RSS with glibc's default and 1,052 MiB with this
/// (docs/PERFORMANCE.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn large_blocks_mapped_alone() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: mallopt sets one of malloc's parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK);
    }
}

/// Other allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn large_blocks_mapped_alone() {}
