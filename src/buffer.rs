//! Large byte buffers for tables and the inputs a build reads: a table of
//! several megabytes filled page by page costs one fault per 4 KiB, so on
//! Linux such buffers are offered to transparent huge pages before use.

/// A zeroed buffer for a table. Filling a multi-megabyte table page by page
/// costs one fault per 4 KiB, which is most of a build's time for a whole
/// stdlib; on Linux the buffer is offered to transparent huge pages first.
pub fn zeroed(len: usize) -> Vec<u8> {
    let v = vec![0u8; len];
    advise_huge_pages(&v, len);
    v
}

/// An empty buffer with room for `cap` bytes, offered to huge pages like a
/// table (see [`zeroed`]): where a build reads its input files.
pub fn large_buffer(cap: usize) -> Vec<u8> {
    let v = Vec::with_capacity(cap);
    advise_huge_pages(&v, cap);
    v
}

/// Ask for transparent huge pages over the first `cap` bytes of `v`'s
/// allocation, before anything touches them. Only for large buffers: a
/// huge page is 2 MiB.
#[allow(unused_variables)]
fn advise_huge_pages(v: &Vec<u8>, cap: usize) {
    #[cfg(target_os = "linux")]
    if cap >= 4 << 20 && cap <= v.capacity() {
        const HUGE: usize = 2 << 20;
        let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (v.as_ptr() as usize + cap) & !(HUGE - 1);
        if end > start {
            // SAFETY: advice on whole pages inside this allocation, which
            // nothing has touched yet; it changes no contents, and a kernel
            // without huge pages ignores it.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}
