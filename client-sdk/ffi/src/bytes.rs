//! Byte buffers handed to C: allocated here, freed here.

#![allow(unsafe_code)]

use std::ptr;

/// Bytes owned by the caller once returned: free them with [`piecepay_bytes_free`] exactly once.
/// `data` is NULL when `len` is 0.
#[repr(C)]
#[derive(Debug)]
pub struct PiecepayBytes {
    /// The first byte, or NULL when empty.
    pub data: *mut u8,
    /// How many bytes.
    pub len: usize,
}

impl Default for PiecepayBytes {
    fn default() -> Self {
        Self::empty()
    }
}

impl PiecepayBytes {
    /// No bytes (nothing to free).
    pub const fn empty() -> Self {
        Self {
            data: ptr::null_mut(),
            len: 0,
        }
    }

    /// Hands `bytes` over to C.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        if bytes.is_empty() {
            return Self::empty();
        }
        let boxed: Box<[u8]> = bytes.into_boxed_slice();
        let len = boxed.len();
        Self {
            data: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }

    /// The bytes, for Rust callers (tests).
    pub fn as_slice(&self) -> &[u8] {
        if self.data.is_null() {
            return &[];
        }
        // SAFETY: non-null `data` comes from `from_vec`: `len` initialised bytes, alive until freed.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// Frees bytes returned by this library (in a `PiecepayBytes` or a `PiecepayOutcome`'s `reply`).
/// Freeing empty bytes (`data` NULL) does nothing.
///
/// # Safety
/// `bytes` must come from this library and not have been freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_bytes_free(bytes: PiecepayBytes) {
    if bytes.data.is_null() {
        return;
    }
    // Freeing cannot panic; no unwind guard needed.
    // SAFETY: the caller passes back what `from_vec` made: a boxed slice of `len` bytes.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(bytes.data, bytes.len)) });
}
