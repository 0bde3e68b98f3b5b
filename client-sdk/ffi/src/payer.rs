//! The payer's C functions: thin wrappers that check pointers and run the SDK's [`PayerSession`] in the
//! guard.

#![allow(unsafe_code)]

use std::ptr;

use piecepay_protocol::alloy_primitives::B256;
use piecepay_sdk::PayerSession;

use crate::{
    Error, PiecepayAmount, PiecepayChannelInfo, PiecepayCooperativeClose, PiecepayOutcome,
    PiecepayPayerConfig, PiecepayReceipt, PiecepaySignedOpen, PiecepayStatus,
    last_error::guard,
    marshal::{self, handled},
    ptr as p,
};

/// A payer's session with one peer (opaque). Create with [`piecepay_payer_new`], free with
/// [`piecepay_payer_free`]. Not thread-safe: one thread at a time.
#[derive(Debug)]
pub struct PiecepayPayer(pub(crate) PayerSession);

/// Creates a payer session and stores it in `*out` (NULL on failure).
///
/// Fails with `INVALID_SECRET_KEY`, or `INVALID_POLICY` (zero `max_price` or `bid_step`, zero
/// `auth_ttl`).
///
/// # Safety
/// `config` must point to a valid config; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_new(
    config: *const PiecepayPayerConfig,
    out: *mut *mut PiecepayPayer,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { p::put(out, ptr::null_mut(), "out")? };
        let config = unsafe { p::read(config, "config")? };
        let session = PayerSession::new(marshal::payer_config(config)?)?;
        // SAFETY: checked non-null above.
        unsafe { p::put(out, Box::into_raw(Box::new(PiecepayPayer(session))), "out") }
    })
}

/// Frees a payer session. NULL does nothing.
///
/// # Safety
/// `payer` must come from [`piecepay_payer_new`] and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_free(payer: *mut PiecepayPayer) {
    if !payer.is_null() {
        let _ = guard(|| {
            // SAFETY: the caller's contract: a live handle from `piecepay_payer_new`.
            drop(unsafe { Box::from_raw(payer) });
            Ok(())
        });
    }
}

/// Writes the payer's 20-byte address to `out`.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for 20 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_address(
    payer: *const PiecepayPayer,
    out: *mut u8,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payer = unsafe { p::read(payer, "payer")? };
        unsafe { p::put(out.cast::<[u8; 20]>(), payer.0.address().0.0, "out") }
    })
}

/// Handles one piecepay message (`data`, `len`: the extended message's payload after its id byte) from
/// the peer at unix time `now`.
///
/// `terms` → checked against the config (`TERMS_MISMATCH`, `PRICE_ABOVE_MAX`), then a `bid` reply.
/// `accept` → `OPEN_CHANNEL` (the first time). `reject` → `PEER_CODE`, and a raised `bid` reply if the
/// policy allows. `receipt_ack` → the acknowledged cumulative in `amount`. `payment_required` →
/// `PEER_CODE`; `TOP_UP` (total in `amount`) if the deposit is exhausted; the `channel` message again if
/// the payee has not seen the channel open. `close` (the payee's co-signature) → `CLOSE_SIGNED`.
/// `error` → `PEER_CODE`. Anything refused → an error status and an `error` reply: send the reply
/// whatever the status.
///
/// # Safety
/// `payer` must be a live handle; `data` must point to `len` readable bytes (NULL if `len` is 0); `out`
/// must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_on_message(
    payer: *mut PiecepayPayer,
    data: *const u8,
    len: usize,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payer = unsafe { p::handle(payer, "payer")? };
        let bytes = unsafe { p::bytes(data, len, "data")? };
        handled(out, payer.0.on_bytes(bytes, now))
    })
}

/// Signs the gasless open of the channel (EIP-712 `OpenChannel`) with `deposit` from the payer's free
/// balance in the escrow, paying a relayer at most `fee`. Submit it (escrow `openChannelsBySig`, or a
/// relayer), then call [`piecepay_payer_channel_funded`] once the chain shows the channel open.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_open(
    payer: *mut PiecepayPayer,
    deposit: PiecepayAmount,
    fee: PiecepayAmount,
    now: u64,
    out: *mut PiecepaySignedOpen,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payer = unsafe { p::handle(payer, "payer")? };
        let address = payer.0.address();
        let signed = payer.0.open(deposit.into(), fee.into(), now)?;
        let message = &signed.message;
        let open = PiecepaySignedOpen {
            payer: address.0.0,
            payee: message.payee.0.0,
            salt: message.salt,
            deposit: message.deposit.to::<u128>().into(),
            fee: message.fee.to::<u128>().into(),
            deadline: message.deadline.to::<u64>(),
            signature: signed.signature.to_bytes(),
        };
        unsafe { p::put(out, open, "out") }
    })
}

/// Records that the chain shows the channel funded with `deposit` (opened, or topped up to this total)
/// and puts the `channel` message telling the payee in the reply. `tx` (32 bytes, or NULL) is the
/// transaction hash, passed on as a hint. A channel opened without [`piecepay_payer_open`] is adopted.
///
/// # Safety
/// `payer` must be a live handle; `tx` must be NULL or point to 32 readable bytes; `out` must be valid
/// for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_channel_funded(
    payer: *mut PiecepayPayer,
    deposit: PiecepayAmount,
    tx: *const u8,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payer = unsafe { p::handle(payer, "payer")? };
        let tx = unsafe { p::opt_array32(tx.cast::<[u8; 32]>()) }.map(B256::from);
        handled(out, payer.0.channel_funded(deposit.into(), tx, now))
    })
}

/// A piece from this peer passed its hash check: signs the next cumulative receipt (one piece at the
/// agreed price) and puts the `receipt` message in the reply. Persist the receipt
/// ([`piecepay_payer_latest_receipt`]) before sending it. `TOP_UP` (a total in `amount`) advises a
/// top-up; status `TOP_UP_NEEDED` means nothing was signed: top up first.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_on_piece_verified(
    payer: *mut PiecepayPayer,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payer = unsafe { p::handle(payer, "payer")? };
        handled(out, payer.0.on_piece_verified(now))
    })
}

/// The peer choked us: raises the bid by one step (at most once per 10 s, never above `max_price` or the
/// budget) and puts the new `bid` in the reply; an empty reply means the bid stays.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_on_choked(
    payer: *mut PiecepayPayer,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payer = unsafe { p::handle(payer, "payer")? };
        handled(out, payer.0.on_choked(now))
    })
}

/// Signs a cooperative close at the highest cumulative signed (a relayer may take at most `fee`) and
/// puts the `close` message in the reply. No receipt is signed afterwards. The payee's co-signed `close`
/// comes back through [`piecepay_payer_on_message`] as `CLOSE_SIGNED`.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_close(
    payer: *mut PiecepayPayer,
    fee: PiecepayAmount,
    now: u64,
    out: *mut PiecepayOutcome,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let payer = unsafe { p::handle(payer, "payer")? };
        handled(out, payer.0.close(fee.into(), now))
    })
}

/// The cooperative close with both signatures, after `CLOSE_SIGNED`. `NOT_FOUND` before.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_cooperative_close(
    payer: *const PiecepayPayer,
    out: *mut PiecepayCooperativeClose,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payer = unsafe { p::read(payer, "payer")? };
        let close = payer
            .0
            .cooperative_close()
            .ok_or(Error::NotFound("the payee has not co-signed a close"))?;
        unsafe { p::put(out, marshal::close(close), "out") }
    })
}

/// The highest receipt signed (persist it before sending the `receipt` message). `NOT_FOUND` before the
/// first one.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_latest_receipt(
    payer: *const PiecepayPayer,
    out: *mut PiecepayReceipt,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payer = unsafe { p::read(payer, "payer")? };
        let (channel, receipt) = payer
            .0
            .channel()
            .and_then(|c| Some((c.channel(), c.latest_receipt()?)))
            .ok_or(Error::NotFound("no receipt signed yet"))?;
        unsafe { p::put(out, marshal::receipt(channel, receipt), "out") }
    })
}

/// A snapshot of the session: state, price, deposit, paid, acknowledged, pieces paid.
///
/// # Safety
/// `payer` must be a live handle; `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_payer_info(
    payer: *const PiecepayPayer,
    out: *mut PiecepayChannelInfo,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let payer = unsafe { p::read(payer, "payer")? };
        unsafe { p::put(out, marshal::info(&payer.0.info()), "out") }
    })
}
