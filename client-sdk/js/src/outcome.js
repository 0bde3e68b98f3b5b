/**
 * What a session's call asks of its caller: the reply to send, and the actions to take. Sessions are
 * sans-IO (they never touch the network, the disk, the chain or the clock); the caller carries out
 * these in the order documented on each field.
 */

import { PiecepayError } from './errors.js';
import * as wire from './wire.js';

/**
 * @typedef {object} Outcome
 * @property {Uint8Array | null} reply one piecepay message to send to the peer (after `persist`, if set)
 * @property {string | null} received the `t` of the message handled, when it decoded
 * @property {PiecepayError | null} error why the message was refused (then `reply` is the `error`, and
 *   nothing changed)
 * @property {string | null} peerCode a code the peer sent (`error`, `reject`, `payment_required`)
 * @property {boolean | null} serve payee: the serve decision now (true: unchoke and serve; false: choke
 *   and refuse requests); null when the call did not decide
 * @property {ChannelClaim | null} checkChannel payee: the peer announced a channel; read it on chain (or
 *   from a trusted relayer) and call `channelFunded` with the deposit seen there
 * @property {AcceptedReceipt | null} persist payee: store this receipt durably **before** sending `reply`
 *   (its acknowledgement)
 * @property {ChannelToFund | null} open payer: the bid was accepted; fund the channel (open it, or adopt
 *   one already open) and call `channelFunded`
 * @property {bigint | null} topUp payer: top the channel up to this deposit (then `channelFunded`)
 * @property {SignedClose | null} closeSigned both: a cooperative close with both signatures, ready to
 *   submit (`cooperativeClose` on the escrow, or a relayer)
 *
 * @typedef {{ payer: string, salt: number, id: string, deposit: bigint, tx?: string }} ChannelClaim
 * @typedef {{ channelId: string, payer: string, payee: string, salt: number, cumulative: bigint,
 *   sig: string }} AcceptedReceipt
 * @typedef {{ payee: string, salt: number, id: string }} ChannelToFund
 * @typedef {{ payer: string, payee: string, salt: number, cumulative: bigint, fee: bigint, relayer: string,
 *   channelNonce: number, deadline: bigint, payerSig: string, payeeSig: string }} SignedClose
 */

/** @returns {Outcome} */
export function outcome() {
  return {
    reply: null,
    received: null,
    error: null,
    peerCode: null,
    serve: null,
    checkChannel: null,
    persist: null,
    open: null,
    topUp: null,
    closeSigned: null,
  };
}

/**
 * Decodes `bytes` and hands the message to `handle`: bytes that do not decode, and a message `handle`
 * refuses, are answered with an `error` (and change nothing); a peer's `error` is reported, never
 * answered (docs/wire-protocol.md §4: nobody answers an error with an error).
 *
 * @param {Uint8Array} bytes
 * @param {(message: wire.Message, out: Outcome) => void} handle
 * @returns {Outcome}
 */
export function dispatch(bytes, handle) {
  const out = outcome();
  let message;
  try {
    message = wire.decode(bytes);
  } catch (error) {
    return refuse(out, error);
  }
  out.received = message.t;
  if (message.t === 'error') {
    out.peerCode = message.code;
    return out;
  }
  try {
    handle(message, out);
  } catch (error) {
    // Handlers check before they change anything, so a refusal leaves the session as it was.
    Object.assign(out, outcome(), { received: message.t });
    return refuse(out, error, message.t);
  }
  return out;
}

/**
 * @param {Outcome} out
 * @param {unknown} error
 * @param {string} [regarding]
 */
function refuse(out, error, regarding) {
  if (!(error instanceof PiecepayError)) throw error;
  out.error = error;
  out.reply = wire.encode(wire.errorReply(error, regarding));
  return out;
}

/**
 * A message of the other role, or one this state does not take.
 *
 * @param {string} kind
 * @param {string} reason
 */
export function unexpected(kind, reason) {
  return new PiecepayError('unexpected_message', `${kind}: ${reason}`, { regarding: kind });
}
