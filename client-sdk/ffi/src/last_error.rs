//! The last error of each thread, and the guard every entry point runs in.

#![allow(unsafe_code)]

use std::{
    cell::RefCell,
    ffi::{CString, c_char},
    panic::{AssertUnwindSafe, catch_unwind},
};

use crate::{Error, PiecepayStatus};

struct LastError {
    code: CString,
    message: CString,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        code: CString::default(),
        message: CString::default(),
    });
}

fn record(error: &Error) {
    // Codes are ASCII; a message with an interior NUL (from a peer's bytes) is cut there.
    let text = error.to_string();
    let message = CString::new(text.split('\0').next().unwrap_or_default()).unwrap_or_default();
    let code = CString::new(error.code()).unwrap_or_default();
    LAST.with(|last| *last.borrow_mut() = LastError { code, message });
}

/// Runs the body of an entry point: catches any panic so none unwinds into C, records a failure as this
/// thread's last error, and turns the result into a status.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Error>) -> PiecepayStatus {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Panic(text))
    });
    match result {
        Ok(()) => PiecepayStatus::Ok,
        Err(error) => {
            record(&error);
            error.status()
        }
    }
}

/// The human-readable message of the last failed call on this thread ("" if none failed yet).
///
/// The pointer is owned by the library and valid until the next failing piecepay call on this thread;
/// copy it to keep it. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn piecepay_last_error_message() -> *const c_char {
    LAST.with(|last| last.borrow().message.as_ptr())
}

/// The stable machine-readable code of the last failed call on this thread (`stale_receipt`,
/// `malformed`, …; "" if none failed yet): the code the SDK, the codec and the wire protocol use.
///
/// Same lifetime as [`piecepay_last_error_message`]. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn piecepay_last_error_code() -> *const c_char {
    LAST.with(|last| last.borrow().code.as_ptr())
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn last() -> (String, String) {
        // SAFETY: both return valid NUL-terminated strings owned by this thread.
        unsafe {
            (
                CStr::from_ptr(piecepay_last_error_code())
                    .to_string_lossy()
                    .into_owned(),
                CStr::from_ptr(piecepay_last_error_message())
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    }

    #[test]
    fn a_panic_becomes_a_status() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, PiecepayStatus::Panic);
        let (code, message) = last();
        assert_eq!(code, "panic");
        assert!(message.contains("boom"), "{message}");
    }

    #[test]
    fn success_leaves_the_last_error() {
        assert_eq!(
            guard(|| Err(Error::NullArgument("out"))),
            PiecepayStatus::NullArgument
        );
        assert_eq!(guard(|| Ok(())), PiecepayStatus::Ok);
        assert_eq!(last().0, "null_argument");
    }

    #[test]
    fn interior_nul_is_cut() {
        let _ = guard(|| Err(Error::InvalidArgument("a\0b")));
        assert_eq!(last().1, "invalid argument a");
    }
}
