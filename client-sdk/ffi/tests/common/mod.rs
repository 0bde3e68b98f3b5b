//! Safe wrappers over the C functions, so tests read like a torrent client's event loop.

#![allow(unsafe_code, dead_code)]

pub mod c;

use std::{ffi::CStr, ptr};

use piecepay_ffi::*;
use piecepay_protocol::{
    SigningKey,
    alloy_primitives::{Address, B256},
};

pub const CHAIN: u64 = 31_337;
pub const ESCROW: [u8; 20] = [0xe5; 20];
pub const TOKEN: [u8; 20] = [0x70; 20];
pub const PAYER_KEY: [u8; 32] = [0x11; 32];
pub const PAYEE_KEY: [u8; 32] = [0x22; 32];
pub const PRICE: u128 = 1_000;
pub const NOW: u64 = 1_700_000_000;

pub fn address_of(key: [u8; 32]) -> Address {
    SigningKey::from_bytes(&B256::from(key)).unwrap().address()
}

/// What a call returned, with the reply copied out and freed.
#[derive(Debug)]
pub struct Out {
    pub status: PiecepayStatus,
    pub reply: Vec<u8>,
    pub actions: u32,
    pub received: PiecepayMessageKind,
    pub amount: u128,
    pub code: String,
}

impl Out {
    pub fn has(&self, action: u32) -> bool {
        self.actions & action != 0
    }

    pub fn message(&self) -> piecepay_wire::Message {
        piecepay_wire::Message::decode(&self.reply).expect("replies decode")
    }

    pub fn ok(self) -> Self {
        assert_eq!(
            self.status,
            PiecepayStatus::Ok,
            "{} ({})",
            last_code(),
            last_message()
        );
        self
    }
}

pub fn take(status: PiecepayStatus, outcome: PiecepayOutcome) -> Out {
    let out = Out {
        status,
        reply: outcome.reply.as_slice().to_vec(),
        actions: outcome.actions,
        received: outcome.received,
        amount: outcome.amount.into(),
        code: outcome.peer_code(),
    };
    // SAFETY: the reply comes from the library and is freed once, here.
    unsafe { piecepay_bytes_free(outcome.reply) };
    out
}

/// Calls a C function that fills an outcome through `out`, and takes the outcome.
pub fn call(f: impl FnOnce(*mut PiecepayOutcome) -> PiecepayStatus) -> Out {
    let mut outcome = PiecepayOutcome::default();
    let status = f(&mut outcome);
    take(status, outcome)
}

/// Calls a C function that writes a `T` through `out` when it returns `Ok`, and reads it.
pub fn read_out<T>(f: impl FnOnce(*mut T) -> PiecepayStatus) -> Result<T, PiecepayStatus> {
    let mut value = std::mem::MaybeUninit::<T>::uninit();
    match f(value.as_mut_ptr()) {
        // SAFETY: on `Ok` the library wrote the whole value.
        PiecepayStatus::Ok => Ok(unsafe { value.assume_init() }),
        status => Err(status),
    }
}

pub fn last_code() -> String {
    // SAFETY: never NULL, NUL-terminated.
    unsafe { CStr::from_ptr(piecepay_last_error_code()) }
        .to_string_lossy()
        .into_owned()
}

pub fn last_message() -> String {
    // SAFETY: never NULL, NUL-terminated.
    unsafe { CStr::from_ptr(piecepay_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

pub fn payee_config(credit_pieces: u32) -> PiecepayPayeeConfig {
    PiecepayPayeeConfig {
        chain_id: CHAIN,
        escrow: ESCROW,
        token: TOKEN,
        secret_key: PAYEE_KEY,
        min_price: PRICE.into(),
        credit_pieces,
    }
}

pub fn payer_config() -> PiecepayPayerConfig {
    PiecepayPayerConfig {
        chain_id: CHAIN,
        escrow: ESCROW,
        token: TOKEN,
        secret_key: PAYER_KEY,
        salt: 7,
        max_price: (PRICE * 2).into(),
        bid_step: 100u128.into(),
        budget: 1_000_000_000u128.into(),
        auth_ttl: 600,
    }
}

pub struct Payee(pub *mut PiecepayPayee);

impl Payee {
    pub fn new(config: &PiecepayPayeeConfig) -> Result<Self, PiecepayStatus> {
        let mut handle = ptr::null_mut();
        // SAFETY: valid pointers.
        let status = unsafe { piecepay_payee_new(config, &mut handle) };
        if status != PiecepayStatus::Ok {
            assert!(handle.is_null());
            return Err(status);
        }
        Ok(Self(handle))
    }

    pub fn terms(&self) -> Vec<u8> {
        let mut bytes = PiecepayBytes::empty();
        // SAFETY: live handle, valid out pointer.
        assert_eq!(
            unsafe { piecepay_payee_terms(self.0, &mut bytes) },
            PiecepayStatus::Ok
        );
        let copy = bytes.as_slice().to_vec();
        unsafe { piecepay_bytes_free(bytes) };
        copy
    }

    pub fn on_message(&mut self, bytes: &[u8], now: u64) -> Out {
        // SAFETY: live handle, valid buffers.
        call(|out| unsafe {
            piecepay_payee_on_message(self.0, bytes.as_ptr(), bytes.len(), now, out)
        })
    }

    pub fn channel_funded(&mut self, deposit: u128, now: u64) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payee_channel_funded(self.0, deposit.into(), now, out) })
    }

    pub fn check_request(&mut self) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payee_check_request(self.0, out) })
    }

    pub fn on_piece_served(&mut self, now: u64) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payee_on_piece_served(self.0, now, out) })
    }

    pub fn allowance(&self) -> u64 {
        // SAFETY: live handle.
        unsafe { piecepay_payee_allowance(self.0) }
    }

    pub fn verify_receipt(&mut self, now: u64) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payee_verify_receipt(self.0, now, out) })
    }

    pub fn latest_receipt(&self) -> Result<PiecepayReceipt, PiecepayStatus> {
        // SAFETY: live handle; the out pointer is valid for writes.
        read_out(|out| unsafe { piecepay_payee_latest_receipt(self.0, out) })
    }

    pub fn cooperative_close(&self) -> Result<PiecepayCooperativeClose, PiecepayStatus> {
        // SAFETY: as above.
        read_out(|out| unsafe { piecepay_payee_cooperative_close(self.0, out) })
    }

    pub fn info(&self) -> PiecepayChannelInfo {
        // SAFETY: as above.
        read_out(|out| unsafe { piecepay_payee_info(self.0, out) }).expect("info")
    }
}

impl Drop for Payee {
    fn drop(&mut self) {
        // SAFETY: the handle is live and freed once.
        unsafe { piecepay_payee_free(self.0) };
    }
}

pub struct Payer(pub *mut PiecepayPayer);

impl Payer {
    pub fn new(config: &PiecepayPayerConfig) -> Result<Self, PiecepayStatus> {
        let mut handle = ptr::null_mut();
        // SAFETY: valid pointers.
        let status = unsafe { piecepay_payer_new(config, &mut handle) };
        if status != PiecepayStatus::Ok {
            assert!(handle.is_null());
            return Err(status);
        }
        Ok(Self(handle))
    }

    pub fn on_message(&mut self, bytes: &[u8], now: u64) -> Out {
        // SAFETY: live handle, valid buffers.
        call(|out| unsafe {
            piecepay_payer_on_message(self.0, bytes.as_ptr(), bytes.len(), now, out)
        })
    }

    pub fn open(&mut self, deposit: u128, now: u64) -> PiecepaySignedOpen {
        // SAFETY: live handle; the out pointer is valid for writes.
        read_out(|out| unsafe {
            piecepay_payer_open(self.0, deposit.into(), 0u128.into(), now, out)
        })
        .unwrap_or_else(|status| panic!("{status:?}: {}", last_message()))
    }

    pub fn channel_funded(&mut self, deposit: u128, now: u64) -> Out {
        // SAFETY: live handle, NULL tx, valid out pointer.
        call(|out| unsafe {
            piecepay_payer_channel_funded(self.0, deposit.into(), ptr::null(), now, out)
        })
    }

    pub fn on_piece_verified(&mut self, now: u64) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payer_on_piece_verified(self.0, now, out) })
    }

    pub fn on_choked(&mut self, now: u64) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payer_on_choked(self.0, now, out) })
    }

    pub fn close(&mut self, now: u64) -> Out {
        // SAFETY: live handle, valid out pointer.
        call(|out| unsafe { piecepay_payer_close(self.0, 0u128.into(), now, out) })
    }

    pub fn cooperative_close(&self) -> Result<PiecepayCooperativeClose, PiecepayStatus> {
        // SAFETY: live handle; the out pointer is valid for writes.
        read_out(|out| unsafe { piecepay_payer_cooperative_close(self.0, out) })
    }

    pub fn latest_receipt(&self) -> Result<PiecepayReceipt, PiecepayStatus> {
        // SAFETY: as above.
        read_out(|out| unsafe { piecepay_payer_latest_receipt(self.0, out) })
    }

    pub fn info(&self) -> PiecepayChannelInfo {
        // SAFETY: as above.
        read_out(|out| unsafe { piecepay_payer_info(self.0, out) }).expect("info")
    }
}

impl Drop for Payer {
    fn drop(&mut self) {
        // SAFETY: the handle is live and freed once.
        unsafe { piecepay_payer_free(self.0) };
    }
}

/// A payer and a payee that exchanged terms, bid and accept, and opened a channel with `deposit`.
pub fn open_pair(credit_pieces: u32, deposit: u128) -> (Payer, Payee) {
    let mut payee = Payee::new(&payee_config(credit_pieces)).unwrap();
    let mut payer = Payer::new(&payer_config()).unwrap();
    let bid = payer.on_message(&payee.terms(), NOW).ok();
    assert_eq!(bid.received, PiecepayMessageKind::Terms);
    let accept = payee.on_message(&bid.reply, NOW).ok();
    let opened = payer.on_message(&accept.reply, NOW).ok();
    assert!(opened.has(PIECEPAY_ACTION_OPEN_CHANNEL));
    payer.open(deposit, NOW);
    let announce = payer.channel_funded(deposit, NOW + 1).ok();
    let check = payee.on_message(&announce.reply, NOW + 1).ok();
    assert!(check.has(PIECEPAY_ACTION_CHECK_CHANNEL));
    assert_eq!(check.amount, deposit);
    let funded = payee.channel_funded(check.amount, NOW + 1).ok();
    assert!(funded.has(PIECEPAY_ACTION_SERVE));
    (payer, payee)
}
