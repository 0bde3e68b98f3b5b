//! The payee's C functions: thin wrappers that check pointers and run the SDK's [`PayeeSession`] in the
//! guard.

#![allow(unsafe_code)]

use std::ptr;

use piecepay_sdk::PayeeSession;

use crate::{
    Error, PiecepayAmount, PiecepayBytes, PiecepayChannelInfo, PiecepayCooperativeClose,
    PiecepayOutcome, PiecepayPayeeConfig, PiecepayReceipt, PiecepayStatus,
    last_error::guard,
    marshal::{self, encode, handled},
    ptr as p,
};

/// A payee's session with one peer (opaque). Create with [`piecepay_payee_new`], free with
/// [`piecepay_payee_free`]. Not thread-safe: one thread at a time.
#[derive(Debug)]
pub struct PiecepayPayee(pub(crate) PayeeSession);

/// Creates a payee session on `config`'s terms and stores it in `*out` (NULL on failure).
///
/// Fails with `INVALID_SECRET_KEY` or `INVALID_POLICY` (zero price or credit).
///
/// # Safety
/// `config` must point to a valid config; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_new(
    config: *const PiecepayPayeeConfig,
    out: *mut *mut PiecepayPayee,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { p::put(out, ptr::null_mut(), "out")? };
        let config = unsafe { p::read(config, "config")? };
        let session = PayeeSession::new(marshal::payee_config(config)?)?;
        // SAFETY: checked non-null above.
        unsafe { p::put(out, Box::into_raw(Box::new(PiecepayPayee(session))), "out") }
    })
}

/// Frees a payee session. NULL does nothing.
///
/// # Safety
/// `payee` must come from [`piecepay_payee_new`] and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_free(payee: *mut PiecepayPayee) {
    if !payee.is_null() {
        let _ = guard(|| {
            // SAFETY: the caller's contract: a live handle from `piecepay_payee_new`.
            drop(unsafe { Box::from_raw(payee) });
            Ok(())
        });
    }
}

/// Writes the payee's 20-byte address (the one its terms name and receipts pay) to `out`.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for 20 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_address(
    payee: *const PiecepayPayee,
    out: *mut u8,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payee = unsafe { p::read(payee, "payee")? };
        unsafe { p::put(out.cast::<[u8; 20]>(), payee.0.address().0.0, "out") }
    })
}

/// The `terms` message (the hello) to send once the peer advertised piecepay in its extended handshake.
/// Free `*out` with `piecepay_bytes_free`.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_terms(
    payee: *const PiecepayPayee,
    out: *mut PiecepayBytes,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payee = unsafe { p::read(payee, "payee")? };
        *out = encode(&payee.0.terms_message())?;
        Ok(())
    })
}

/// Handles one piecepay message (`data`, `len`: the extended message's payload after its id byte) from
/// the peer at unix time `now`.
///
/// `bid` → `accept` or `reject` in the reply. `channel` → `CHECK_CHANNEL` with the claimed deposit in
/// `amount`. `receipt` → checked cheaply (channel open, above the last, within the deposit) and held,
/// with `VERIFY_RECEIPT` once verifying it is due (the peer owes half its credit): a receipt never costs
/// a signature recovery here (a `close` does), so call it on the network thread. The last receipt acknowledged, sent again, is
/// acknowledged again at once: `PERSIST_RECEIPT` with the cumulative in `amount` and the `receipt_ack` in
/// the reply. `SERVE` or `CHOKE` either way.
/// `close` → the held receipt accepted first (`PERSIST_RECEIPT`), then co-signed: `CLOSE_SIGNED | CHOKE`
/// and the co-signed `close` in the reply.
/// `error` → `PEER_CODE`. Anything refused → an error status and an `error` reply: send the reply
/// whatever the status; a refused message changes nothing.
///
/// # Safety
/// `payee` must be a live handle; `data` must point to `len` readable bytes (NULL if `len` is 0); `out`
/// must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_on_message(
    payee: *mut PiecepayPayee,
    data: *const u8,
    len: usize,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payee = unsafe { p::handle(payee, "payee")? };
        let bytes = unsafe { p::bytes(data, len, "data")? };
        handled(out, payee.0.on_bytes(bytes, now))
    })
}

/// Records that the chain shows the channel funded with `deposit` — call it after checking the chain
/// (or a relayer you trust) on `CHECK_CHANNEL`, never on the peer's word alone. Opens the channel, or
/// records a top-up. Sets `SERVE` or `CHOKE` (with a `payment_required` reply).
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_channel_funded(
    payee: *mut PiecepayPayee,
    deposit: PiecepayAmount,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payee = unsafe { p::handle(payee, "payee")? };
        handled(out, payee.0.channel_funded(deposit.into(), now))
    })
}

/// The credit check before serving a request: sets `SERVE` if one more piece fits the credit window and
/// the deposit, else `CHOKE` (swallow the request: BEP 6 `reject_request` or drop it, and choke) with a
/// `payment_required` reply the first time.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_check_request(
    payee: *mut PiecepayPayee,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payee = unsafe { p::handle(payee, "payee")? };
        handled(out, Ok(payee.0.check_request()))
    })
}

/// Whole pieces the peer may be served now before it must pay more: what its credit window and deposit
/// still cover at the price in force, 0 unless its channel is open (`SERVE` exactly when above 0). Accept
/// requests for at most this many pieces not yet sent whole; swallow one that would open one more. 0 for
/// NULL.
///
/// # Safety
/// `payee` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_allowance(payee: *const PiecepayPayee) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { payee.as_ref() }.map_or(0, |payee| payee.0.allowance())
}

/// A piece was sent to the peer: counts its price as served, then sets `SERVE` or `CHOKE` for the next
/// one (with a `payment_required` reply when the peer becomes over its credit), and `VERIFY_RECEIPT`
/// when a receipt held should be verified now (`piecepay_payee_verify_receipt`). It never spends a
/// signature recovery itself: call it on the network thread.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_on_piece_served(
    payee: *mut PiecepayPayee,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payee = unsafe { p::handle(payee, "payee")? };
        handled(out, payee.0.on_piece_served(now))
    })
}

/// Verifies the receipt held unverified, if any (receipts are checked cheaply on arrival and verified
/// lazily: see `PIECEPAY_ACTION_VERIFY_RECEIPT`). Call it when that action is set, on a timer (about
/// once a second) and before freeing the handle, from any thread that may spend a signature recovery.
/// Nothing held: `OK` and no actions. Accepted: `PERSIST_RECEIPT`, and the reply acknowledges it. A
/// receipt that fails is let go, answered with an `error` in the reply, and reported in the status.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_verify_receipt(
    payee: *mut PiecepayPayee,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payee = unsafe { p::handle(payee, "payee")? };
        handled(out, payee.0.verify_receipt(now))
    })
}

/// The chain settled the channel up to `settled` (a relayer's settlement, or your own).
///
/// # Safety
/// `payee` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_on_settled(
    payee: *mut PiecepayPayee,
    settled: PiecepayAmount,
    now: u64,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payee = unsafe { p::handle(payee, "payee")? };
        Ok(payee.0.on_settled(settled.into(), now)?)
    })
}

/// The highest receipt accepted, to persist and to hand to a relayer (or settle). `NOT_FOUND` before the
/// first one.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_latest_receipt(
    payee: *const PiecepayPayee,
    out: *mut PiecepayReceipt,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payee = unsafe { p::read(payee, "payee")? };
        let (channel, receipt) = payee
            .0
            .channel()
            .and_then(|c| Some((c.channel(), c.latest_receipt()?)))
            .ok_or(Error::NotFound("no receipt accepted yet"))?;
        unsafe { p::put(out, marshal::receipt(channel, receipt), "out") }
    })
}

/// The cooperative close co-signed on `CLOSE_SIGNED`, with both signatures. `NOT_FOUND` before.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_cooperative_close(
    payee: *const PiecepayPayee,
    out: *mut PiecepayCooperativeClose,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payee = unsafe { p::read(payee, "payee")? };
        let close = payee
            .0
            .cooperative_close()
            .ok_or(Error::NotFound("no cooperative close co-signed"))?;
        unsafe { p::put(out, marshal::close(close), "out") }
    })
}

/// A snapshot of the session: state, price, deposit, paid, served.
///
/// # Safety
/// `payee` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payee_info(
    payee: *const PiecepayPayee,
    out: *mut PiecepayChannelInfo,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payee = unsafe { p::read(payee, "payee")? };
        unsafe { p::put(out, marshal::info(&payee.0.info()), "out") }
    })
}
