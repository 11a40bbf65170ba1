//! How the C allocator gives memory back.
//!
//! glibc returns the top of the heap to the kernel whenever more than 128 KiB
//! of it is free. A daemon that builds a message in buffers of 64 KiB and more
//! and frees them at the end then shrinks and regrows its heap once per
//! message: two `brk` calls and the page faults to map the memory again,
//! about a tenth of cleanup's CPU. Workers are short-lived (`max_use`,
//! `max_idle`), so keeping a few MiB that were in use anyway costs nothing.

/// Freed memory up to this much stays in the process for the next message.
const KEEP_BYTES: i32 = 16 << 20;

/// Keeps freed heap memory for reuse instead of returning it at every free.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables; M_TRIM_THRESHOLD and
    // M_MMAP_THRESHOLD take any non-negative byte count. Called before the
    // process starts any thread.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_BYTES);
        // Setting the trim threshold freezes glibc's sliding mmap threshold at
        // its initial 128 KiB; keep buffers up to 1 MiB in the heap as well.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
