//! The client agent's C functions (`piecepay_agent_*`, `piecepay_peer_*`): one agent per process,
//! created from a configuration file, and one peer handle per connection. The agent does the IO on its
//! own threads; a peer's calls never block on it (what needs the chain, a relayer or a durable write
//! runs there, and its messages wait in the peer's outbox, announced by the wake callback).
//!
//! Thread safety, unlike the sessions' handles: an agent and its peers may be used from any threads at
//! once. Free every peer before its agent.

#![allow(unsafe_code)]

use std::{
    ffi::{CStr, c_char, c_void},
    ptr,
};

use piecepay_agent::{Agent, PeerLink};
use piecepay_protocol::alloy_primitives::Address;

use crate::{Error, PiecepayAmount, PiecepayBytes, PiecepayStatus, last_error::guard, ptr as p};

/// A client agent (opaque): one per process. Create with [`piecepay_agent_new`], free with
/// [`piecepay_agent_free`]. Thread-safe.
#[derive(Debug)]
pub struct PiecepayAgent(Agent);

/// One peer connection of one torrent, attached to an agent (opaque). Create with [`piecepay_peer_new`],
/// free with [`piecepay_peer_free`] when the connection ends (before the agent). Thread-safe.
#[derive(Debug)]
pub struct PiecepayPeer(PeerLink);

/// Called from the agent's threads when a peer has messages to send
/// ([`piecepay_peer_next_message`]) or its serve decision may have changed ([`piecepay_peer_state`]):
/// `peer_id` is [`piecepay_peer_id`]. It must return quickly and must not call back into the agent on
/// that thread; post the work to the host's own thread (libtorrent: its network thread's next tick).
pub type PiecepayWakeFn = Option<unsafe extern "C" fn(context: *mut c_void, peer_id: u64)>;

/// What the agent knows of one peer, for the host's choker and display.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PiecepayPeerState {
    /// The peer pays this agent on a funded channel.
    pub paying: bool,
    /// The price per piece it pays (its accepted bid), zero when not paying: rank unchoke slots by it.
    pub bid: PiecepayAmount,
    /// It may be served its next piece now ([`piecepay_peer_may_serve`]).
    pub serve: bool,
    /// Whole pieces it may be served now before it must pay more: the free share left, or for a paying
    /// peer the credit window and deposit left. 0 exactly when not `serve`. Accept requests for at most
    /// this many pieces not yet sent whole; refuse (BEP 6 reject) a request that would open one more.
    pub allowance: u64,
    /// It owes for pieces served (a receipt may be on its way): keep the connection a little.
    pub owed: bool,
    /// This agent pays the peer on a funded channel.
    pub buying: bool,
    /// This agent owes the peer (pieces verified and not yet in a receipt, or a receipt not yet
    /// acknowledged): keep the connection until it clears.
    pub payment_due: bool,
}

/// Starts the agent of the configuration file `config_path` (TOML, `docs/agent.md`): loads the wallet,
/// opens the store, checks the RPC node and relayers against the deployment, resumes every stored
/// channel, starts its threads. `password` (NULL: none) unlocks a keystore; without it the configured
/// environment variable is read. Fails — nothing started — with `CONFIG`, `WALLET`, `DEPLOYMENT`,
/// `UNAVAILABLE` or `STORAGE` and a message naming what is wrong (`piecepay_last_error_message`).
///
/// # Safety
/// `config_path` must be a NUL-terminated path; `password` NULL or NUL-terminated; `out` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_new(
    config_path: *const c_char,
    password: *const c_char,
    out: *mut *mut PiecepayAgent,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { p::put(out, ptr::null_mut(), "out")? };
        let path = unsafe { c_str(config_path, "config_path")? }
            .ok_or(Error::NullArgument("config_path"))?;
        let password = unsafe { c_str(password, "password")? };
        let agent = Agent::from_file(path, password)?;
        // SAFETY: checked non-null above.
        unsafe { p::put(out, Box::into_raw(Box::new(PiecepayAgent(agent))), "out") }
    })
}

/// Stops the agent: its threads finish what is under way, every change is made durable, the store is
/// released. NULL does nothing.
///
/// # Safety
/// `agent` must come from [`piecepay_agent_new`], have no peer left, and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_free(agent: *mut PiecepayAgent) {
    if !agent.is_null() {
        let _ = guard(|| {
            // SAFETY: the caller's contract: a live handle from `piecepay_agent_new`.
            let agent = unsafe { Box::from_raw(agent) };
            Ok(agent.0.shutdown()?)
        });
    }
}

/// Writes the agent's 20-byte account address to `out`.
///
/// # Safety
/// `agent` must be a live handle; `out` valid for 20 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_address(
    agent: *const PiecepayAgent,
    out: *mut u8,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let agent = unsafe { p::read(agent, "agent")? };
        unsafe { p::put(out.cast::<[u8; 20]>(), agent.0.address().0.0, "out") }
    })
}

/// Sets the wake callback (NULL: none), called with `context` and a peer's id from the agent's threads.
///
/// # Safety
/// `agent` must be a live handle; `wake`, if set, must be callable from any thread with `context` until
/// the agent is freed or the callback replaced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_set_wake(
    agent: *const PiecepayAgent,
    wake: PiecepayWakeFn,
    context: *mut c_void,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let agent = unsafe { p::read(agent, "agent")? };
        let context = SendPtr(context);
        match wake {
            Some(wake) => agent.0.set_waker(move |peer| {
                let context = &context;
                // SAFETY: the caller's contract: callable from any thread with its context.
                unsafe { wake(context.0, peer) }
            }),
            None => agent.0.set_waker(|_| {}),
        }
        Ok(())
    })
}

/// The host's context pointer, passed back untouched.
struct SendPtr(*mut c_void);
// SAFETY: the pointer is only handed back to the host's callback, which promised it may be used from any
// thread; Rust never dereferences it.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// The agent's report as JSON (`docs/agent.md`, "Reports"): spend and earnings per torrent and per peer,
/// balances, deposits locked, pending settlement; amounts as decimal strings. Free `*out` with
/// `piecepay_bytes_free`.
///
/// # Safety
/// `agent` must be a live handle; `out` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_report_json(
    agent: *const PiecepayAgent,
    out: *mut PiecepayBytes,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let agent = unsafe { p::read(agent, "agent")? };
        *out = json(&agent.0.report());
        Ok(())
    })
}

/// The next event as JSON (`{"at": …, "type": "channel_opened", …}`, `docs/agent.md`, "Events"), or empty
/// bytes when none is waiting. Free `*out` with `piecepay_bytes_free`.
///
/// # Safety
/// `agent` must be a live handle; `out` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_next_event_json(
    agent: *const PiecepayAgent,
    out: *mut PiecepayBytes,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let agent = unsafe { p::read(agent, "agent")? };
        if let Some(event) = agent.0.next_event() {
            *out = json(&event);
        }
        Ok(())
    })
}

/// Withdraws `*amount` (NULL: all) of the free balance to the 20-byte `to` (NULL: the agent's own
/// account); needs an RPC node. Blocks until the transaction is mined; its hash goes to `tx_out` (32
/// bytes, or NULL).
///
/// # Safety
/// `agent` must be a live handle; `to` NULL or 20 readable bytes; `amount` NULL or readable; `tx_out`
/// NULL or valid for 32 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_withdraw(
    agent: *const PiecepayAgent,
    to: *const u8,
    amount: *const PiecepayAmount,
    tx_out: *mut u8,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let agent = unsafe { p::read(agent, "agent")? };
        let to = unsafe { to.cast::<[u8; 20]>().as_ref() }.map(|bytes| Address::from(*bytes));
        let amount = unsafe { amount.as_ref() }.map(|a| u128::from(*a));
        let tx = agent.0.withdraw(to, amount)?;
        if !tx_out.is_null() {
            // SAFETY: the caller's contract.
            unsafe { p::put(tx_out.cast::<[u8; 32]>(), tx.0, "tx_out")? };
        }
        Ok(())
    })
}

/// Closes every channel the agent pays on (cooperatively where the payee is connected, else by a close
/// request the agent finalizes after the challenge window) and hands every receipt it was paid with to a
/// relayer now. Returns once the closes are under way (up to ~10 s); events report their end.
///
/// # Safety
/// `agent` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_agent_close_all(agent: *const PiecepayAgent) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let agent = unsafe { p::read(agent, "agent")? };
        Ok(agent.0.close_all()?)
    })
}

/// Attaches a peer connection of the torrent `info_hash` (20 bytes) to the agent; `label` (NULL, or
/// UTF-8, e.g. `"10.0.0.7:6881"`) names it in reports. Free it with [`piecepay_peer_free`] when the
/// connection ends.
///
/// # Safety
/// `agent` must be a live handle; `info_hash` 20 readable bytes; `label` NULL or NUL-terminated; `out`
/// valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_new(
    agent: *const PiecepayAgent,
    info_hash: *const u8,
    label: *const c_char,
    out: *mut *mut PiecepayPeer,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { p::put(out, ptr::null_mut(), "out")? };
        let agent = unsafe { p::read(agent, "agent")? };
        let info_hash = *unsafe { p::read(info_hash.cast::<[u8; 20]>(), "info_hash")? };
        let label = unsafe { c_str(label, "label")? }.unwrap_or("");
        let peer = agent.0.attach(info_hash, label);
        // SAFETY: checked non-null above.
        unsafe { p::put(out, Box::into_raw(Box::new(PiecepayPeer(peer))), "out") }
    })
}

/// Detaches the connection (a receipt it held is still verified and stored). NULL does nothing.
///
/// # Safety
/// `peer` must come from [`piecepay_peer_new`] and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_free(peer: *mut PiecepayPeer) {
    if !peer.is_null() {
        let _ = guard(|| {
            // SAFETY: the caller's contract: a live handle from `piecepay_peer_new`.
            drop(unsafe { Box::from_raw(peer) });
            Ok(())
        });
    }
}

/// The peer's id, as the wake callback names it (0 for NULL).
///
/// # Safety
/// `peer` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_id(peer: *const PiecepayPeer) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { peer.as_ref() }.map_or(0, |peer| peer.0.id())
}

/// The peer advertised piecepay in its extended handshake: when the agent sells, its terms (the hello)
/// are queued ([`piecepay_peer_next_message`]).
///
/// # Safety
/// `peer` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_start(peer: *const PiecepayPeer) -> PiecepayStatus {
    with_peer(peer, PeerLink::start)
}

/// One piecepay message from the peer (`data`, `len`: the extended message's payload after its id byte).
/// Replies, now or once the agent's IO is done, come out of [`piecepay_peer_next_message`]; a message that
/// does not decode is answered there with an `error`.
///
/// # Safety
/// `peer` must be a live handle; `data` must point to `len` readable bytes (NULL if `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_on_message(
    peer: *const PiecepayPeer,
    data: *const u8,
    len: usize,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let peer = unsafe { p::read(peer, "peer")? };
        let bytes = unsafe { p::bytes(data, len, "data")? };
        peer.0.on_message(bytes);
        Ok(())
    })
}

/// Whether to serve the peer its next piece: on its funded channel within its credit window, or within
/// the free share. When false, swallow its requests (BEP 6 reject) and choke it. False for NULL.
///
/// # Safety
/// `peer` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_may_serve(peer: *const PiecepayPeer) -> bool {
    // SAFETY: the caller's contract.
    unsafe { peer.as_ref() }.is_some_and(|peer| peer.0.may_serve())
}

/// A whole piece went to the peer.
///
/// # Safety
/// `peer` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_on_piece_served(
    peer: *const PiecepayPeer,
) -> PiecepayStatus {
    with_peer(peer, PeerLink::on_piece_served)
}

/// A piece the peer supplied passed its hash check: the agent pays it (one receipt may cover several
/// pieces when they pass faster than a receipt is made durable).
///
/// # Safety
/// `peer` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_on_piece_verified(
    peer: *const PiecepayPeer,
) -> PiecepayStatus {
    with_peer(peer, PeerLink::on_piece_verified)
}

/// The peer choked us: a raised bid is queued if the payer policy allows.
///
/// # Safety
/// `peer` must be a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_on_choked(peer: *const PiecepayPeer) -> PiecepayStatus {
    with_peer(peer, PeerLink::on_choked)
}

/// The next message to send to the peer as one piecepay extended message, or empty bytes when none is
/// waiting. Free `*out` with `piecepay_bytes_free`.
///
/// # Safety
/// `peer` must be a live handle; `out` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_next_message(
    peer: *const PiecepayPeer,
    out: *mut PiecepayBytes,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let peer = unsafe { p::read(peer, "peer")? };
        if let Some(message) = peer.0.next_outgoing() {
            *out = PiecepayBytes::from_vec(message);
        }
        Ok(())
    })
}

/// What the agent knows of the peer (paying, its bid, serve, its allowance, owed, buying, payment due).
///
/// # Safety
/// `peer` must be a live handle; `out` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_peer_state(
    peer: *const PiecepayPeer,
    out: *mut PiecepayPeerState,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let peer = unsafe { p::read(peer, "peer")? };
        let state = peer.0.state();
        let state = PiecepayPeerState {
            paying: state.paying,
            bid: state.bid.into(),
            serve: state.serve,
            allowance: state.allowance,
            owed: state.owed,
            buying: state.buying,
            payment_due: state.payment_due,
        };
        unsafe { p::put(out, state, "out") }
    })
}

/// Runs `call` on a live peer.
fn with_peer(peer: *const PiecepayPeer, call: impl FnOnce(&PeerLink)) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract (every caller documents it).
        let peer = unsafe { p::read(peer, "peer")? };
        call(&peer.0);
        Ok(())
    })
}

/// A NUL-terminated UTF-8 string, or `None` for NULL.
///
/// # Safety
/// `text` must be NULL or NUL-terminated.
unsafe fn c_str<'a>(text: *const c_char, name: &'static str) -> crate::Result<Option<&'a str>> {
    if text.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map(Some)
        .map_err(|_| Error::InvalidArgument(name))
}

/// `value` as JSON bytes for C.
fn json(value: &impl serde::Serialize) -> PiecepayBytes {
    // Reports and events are plain data: serializing them cannot fail.
    PiecepayBytes::from_vec(serde_json::to_vec(value).unwrap_or_default())
}
