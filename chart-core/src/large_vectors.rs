//! Growing vectors of tens of MiB (a day's events, a month's keys) by a quarter, not
//! by doubling: they are made about the size they will reach, so doubling would leave
//! most of the growth unused, and a large block grows in place.

/// Makes room for `more` items in `vec`, growing a full vector by a quarter.
pub(crate) fn grow_by_a_quarter<T>(vec: &mut Vec<T>, more: usize) {
    if vec.capacity() - vec.len() < more {
        vec.reserve_exact(more.max(vec.capacity() / 4).max(1024));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_vector_grows_by_a_quarter() {
        let mut v: Vec<u8> = vec![0; 4096];
        assert_eq!(v.capacity(), 4096);
        grow_by_a_quarter(&mut v, 1);
        assert!((5120..6144).contains(&v.capacity()), "{}", v.capacity());
        let before = v.capacity();
        grow_by_a_quarter(&mut v, 1);
        assert_eq!(v.capacity(), before, "room left: no growth");
        grow_by_a_quarter(&mut v, 10_000);
        assert!(v.capacity() >= v.len() + 10_000);
    }
}
