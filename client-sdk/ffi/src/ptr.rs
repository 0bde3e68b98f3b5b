//! Checked views of the raw pointers C passes in.

#![allow(unsafe_code)]

use crate::{Error, Result};

/// `len` bytes at `data`; NULL is allowed only with `len` 0.
///
/// # Safety
/// A non-null `data` must point to `len` readable bytes that outlive the returned slice.
pub(crate) unsafe fn bytes<'a>(
    data: *const u8,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8]> {
    // SAFETY: the caller's contract.
    unsafe { slice(data, len, name) }
}

/// `len` values at `data`; NULL is allowed only with `len` 0.
///
/// # Safety
/// A non-null `data` must point to `len` valid, aligned `T`s that outlive the returned slice and are not
/// written during it.
pub(crate) unsafe fn slice<'a, T>(
    data: *const T,
    len: usize,
    name: &'static str,
) -> Result<&'a [T]> {
    if data.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::InvalidArgument(name))
        };
    }
    // SAFETY: guaranteed by the caller.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Room for `len` values at `data`, for writing; NULL is allowed only with `len` 0.
///
/// # Safety
/// A non-null `data` must be valid for writes of `len` aligned `T`s, not aliased during the returned
/// borrow. `T` must be a plain type (any bit pattern valid), since the memory may be uninitialised.
pub(crate) unsafe fn slice_mut<'a, T: Copy>(
    data: *mut T,
    len: usize,
    name: &'static str,
) -> Result<&'a mut [T]> {
    if data.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(Error::InvalidArgument(name))
        };
    }
    // SAFETY: guaranteed by the caller.
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

/// `*ptr` for reading.
///
/// # Safety
/// A non-null `ptr` must point to a valid `T` not written during the returned borrow.
pub(crate) unsafe fn read<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T> {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr.as_ref() }.ok_or(Error::NullArgument(name))
}

/// Stores `value` at `ptr`, which may hold uninitialised memory (nothing there is read or dropped).
///
/// # Safety
/// A non-null `ptr` must be valid for writes of a `T`.
pub(crate) unsafe fn put<T>(ptr: *mut T, value: T, name: &'static str) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::NullArgument(name));
    }
    // SAFETY: non-null and valid for writes, guaranteed by the caller.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Initialises `*ptr` to `T::default()` (whatever it held, even uninitialised memory) and lends it.
///
/// # Safety
/// A non-null `ptr` must be valid for writes of a `T` and not aliased during the returned borrow.
pub(crate) unsafe fn init<'a, T: Default>(ptr: *mut T, name: &'static str) -> Result<&'a mut T> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        put(ptr, T::default(), name)?;
        Ok(&mut *ptr)
    }
}

/// `*ptr` for exclusive use (a handle).
///
/// # Safety
/// A non-null `ptr` must point to a valid `T`, not used elsewhere during the returned borrow.
pub(crate) unsafe fn handle<'a, T>(ptr: *mut T, name: &'static str) -> Result<&'a mut T> {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr.as_mut() }.ok_or(Error::NullArgument(name))
}

/// An optional 32-byte array: NULL is `None`.
///
/// # Safety
/// A non-null `ptr` must point to 32 readable bytes.
pub(crate) unsafe fn opt_array32(ptr: *const [u8; 32]) -> Option<[u8; 32]> {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr.as_ref() }.copied()
}
