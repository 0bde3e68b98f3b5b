/**
 * piecepay's messages (docs/wire-protocol.md §5): decoding with every field's type and range checked,
 * canonical encoding, and the `error` reply for bytes that do not decode.
 *
 * A message is a plain object whose `t` names its type and whose other keys are its wire fields, named
 * as on the wire: `{ t: 'receipt', salt: 7, cumulative: 1000n, sig: '0x…' }`. Field types (§2):
 * `amount` and `u64` are `bigint`, `u32` is `number`, `address`, `hash` and `signature` are lower-case
 * 0x-hex strings, `code` and `text` are strings. Optional fields are absent (never `undefined`) when not
 * sent. Unknown fields of a received message are ignored (§4).
 *
 * @typedef {{ t: 'terms', chain: bigint, escrow: string, token: string, payee: string, price: bigint,
 *   credit_pieces?: number, credit_amount?: bigint }} TermsMessage
 * @typedef {{ t: 'bid', price: bigint, payer: string, salt: number }} BidMessage
 * @typedef {{ t: 'accept', price: bigint, credit_pieces?: number, credit_amount?: bigint }} AcceptMessage
 * @typedef {{ t: 'reject', code: string, min_price?: bigint }} RejectMessage
 * @typedef {{ t: 'channel', payer: string, salt: number, id: string, deposit: bigint, tx?: string }} ChannelMessage
 * @typedef {{ t: 'receipt', salt: number, cumulative: bigint, sig: string }} ReceiptMessage
 * @typedef {{ t: 'receipt_ack', cumulative: bigint }} ReceiptAckMessage
 * @typedef {{ t: 'payment_required', reason: string, paid: bigint, served: bigint, deposit?: bigint }} PaymentRequiredMessage
 * @typedef {{ t: 'close', cumulative: bigint, fee: bigint, relayer?: string, nonce?: number, deadline: bigint,
 *   sig: string }} CloseMessage `relayer` (absent: the zero address, anyone) and `nonce` (the channel nonce,
 *   absent: 0) are sent only when not zero
 * @typedef {{ t: 'error', code: string, msg?: string, re?: string }} ErrorMessage
 * @typedef {TermsMessage | BidMessage | AcceptMessage | RejectMessage | ChannelMessage | ReceiptMessage
 *   | ReceiptAckMessage | PaymentRequiredMessage | CloseMessage | ErrorMessage} Message
 */

import * as bencode from './bencode.js';
import { PiecepayError } from './errors.js';

/** The largest amount a field carries: 2^96 − 1, the escrow's `uint96`. */
export const MAX_AMOUNT = (1n << 96n) - 1n;
const MAX_U32 = 0xffffffffn;
const MAX_U64 = (1n << 64n) - 1n;
/** The most bytes of a `code`. */
export const MAX_CODE_LEN = 64;
/** The most bytes of an `error`'s `msg`. */
export const MAX_TEXT_LEN = 256;

/** The credit pair: exactly one of the two is sent (§5.1, §5.3). */
const CREDIT = Symbol('credit');

/**
 * Every message type and its fields in the order of the tables in §5 — the order they are checked in,
 * so the first failing field decides the error (§2, "Decoding, step by step").
 *
 * @type {Record<string, ([string, string, boolean?] | typeof CREDIT)[]>}
 */
const SCHEMAS = {
  terms: [['chain', 'u64'], ['escrow', 'address'], ['token', 'address'], ['payee', 'address'], ['price', 'amount'], CREDIT],
  bid: [['price', 'amount'], ['payer', 'address'], ['salt', 'u32']],
  accept: [['price', 'amount'], CREDIT],
  reject: [['code', 'code'], ['min_price', 'amount', true]],
  channel: [['payer', 'address'], ['salt', 'u32'], ['id', 'hash'], ['deposit', 'amount'], ['tx', 'hash', true]],
  receipt: [['salt', 'u32'], ['cumulative', 'amount'], ['sig', 'signature']],
  receipt_ack: [['cumulative', 'amount']],
  payment_required: [['reason', 'code'], ['paid', 'amount'], ['served', 'amount'], ['deposit', 'amount', true]],
  close: [['cumulative', 'amount'], ['fee', 'amount'], ['relayer', 'address', true], ['nonce', 'u16', true], ['deadline', 'u64'], ['sig', 'signature']],
  error: [['code', 'code'], ['msg', 'text', true], ['re', 'code', true]],
};

/** The `t` of every message type of version 1. */
export const MESSAGE_TYPES = Object.freeze(Object.keys(SCHEMAS));

const BYTE_LENGTHS = { address: 20, hash: 32, signature: 64 };
const INT_MAX = { amount: MAX_AMOUNT, u16: 0xffffn, u32: MAX_U32, u64: MAX_U64 };

/**
 * Decodes one message (the payload of a BEP 10 extended message, after its id byte).
 *
 * @param {Uint8Array} bytes
 * @returns {Message}
 * @throws {PiecepayError} the codec's codes (§6); `regarding` is set for `unknown_message` (when the `t`
 *   has the code form), `missing_field` and `invalid_field`
 */
export function decode(bytes) {
  const value = bencode.decode(bytes);
  if (!(value instanceof Map)) throw new PiecepayError('not_a_message', 'not a piecepay message: not a dictionary');
  const t = value.get('t');
  if (!(t instanceof Uint8Array)) throw new PiecepayError('not_a_message', 'not a piecepay message: no byte-string t');
  const kind = bencode.latin1(t);
  const schema = Object.hasOwn(SCHEMAS, kind) ? SCHEMAS[kind] : undefined;
  if (!schema) {
    const head = t.subarray(0, MAX_CODE_LEN);
    const regarding = isCode(head) ? bencode.latin1(head) : undefined;
    throw new PiecepayError('unknown_message', `unknown message type ${JSON.stringify(Buffer.from(t).toString('utf8'))}`, {
      regarding,
    });
  }
  /** @type {Record<string, unknown>} */
  const message = { t: kind };
  for (const field of schema) {
    if (field === CREDIT) {
      readCredit(kind, value, message);
      continue;
    }
    const [name, type, optional] = field;
    const raw = value.get(name);
    if (raw === undefined) {
      if (optional) continue;
      throw missing(kind, name);
    }
    message[name] = readField(kind, name, type, raw);
  }
  return /** @type {Message} */ (message);
}

/**
 * @param {string} kind
 * @param {Map<string, bencode.BencodeValue>} dict
 * @param {Record<string, unknown>} out
 */
function readCredit(kind, dict, out) {
  const pieces = dict.get('credit_pieces');
  const amount = dict.get('credit_amount');
  if (pieces !== undefined && amount !== undefined) {
    throw invalid(kind, 'credit_amount', 'both credit_pieces and credit_amount');
  }
  if (pieces !== undefined) out.credit_pieces = readField(kind, 'credit_pieces', 'u32', pieces);
  else if (amount !== undefined) out.credit_amount = readField(kind, 'credit_amount', 'amount', amount);
  else throw missing(kind, 'credit_pieces');
}

/**
 * @param {string} kind
 * @param {string} name
 * @param {string} type
 * @param {bencode.BencodeValue} raw
 */
function readField(kind, name, type, raw) {
  switch (type) {
    case 'amount':
    case 'u16':
    case 'u32':
    case 'u64': {
      if (typeof raw !== 'bigint') throw invalid(kind, name, 'not an integer');
      if (raw < 0n || raw > INT_MAX[type]) throw invalid(kind, name, 'out of range');
      return type === 'u32' || type === 'u16' ? Number(raw) : raw;
    }
    case 'address':
    case 'hash':
    case 'signature': {
      if (!(raw instanceof Uint8Array)) throw invalid(kind, name, 'not a byte string');
      if (raw.length !== BYTE_LENGTHS[type]) throw invalid(kind, name, 'wrong length');
      return toHex(raw);
    }
    case 'code': {
      if (!(raw instanceof Uint8Array)) throw invalid(kind, name, 'not a byte string');
      if (!isCode(raw)) throw invalid(kind, name, 'not a code');
      return bencode.latin1(raw);
    }
    case 'text': {
      if (!(raw instanceof Uint8Array)) throw invalid(kind, name, 'not a byte string');
      if (raw.length > MAX_TEXT_LEN) throw invalid(kind, name, 'too long');
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch {
        throw invalid(kind, name, 'not UTF-8');
      }
    }
    default:
      throw new Error(`unknown field type ${type}`);
  }
}

/**
 * The canonical encoding of `message`. Refuses (`invalid_field`) a value a peer would refuse — an amount
 * beyond 2^96 − 1, a wrong-length address, a `msg` over 256 bytes —, so nothing invalid is ever sent.
 *
 * @param {Message} message
 * @returns {Uint8Array}
 */
export function encode(message) {
  const kind = message.t;
  const schema = Object.hasOwn(SCHEMAS, kind) ? SCHEMAS[kind] : undefined;
  if (!schema) throw new PiecepayError('unknown_message', `unknown message type ${JSON.stringify(kind)}`);
  const m = /** @type {Record<string, unknown>} */ (message);
  /** @type {Map<string, any>} */
  const dict = new Map([['t', kind]]);
  for (const field of schema) {
    if (field === CREDIT) {
      const hasPieces = m.credit_pieces !== undefined;
      const hasAmount = m.credit_amount !== undefined;
      if (hasPieces === hasAmount) throw invalid(kind, 'credit_pieces', 'exactly one of credit_pieces, credit_amount');
      if (hasPieces) dict.set('credit_pieces', writeField(kind, 'credit_pieces', 'u32', m.credit_pieces));
      else dict.set('credit_amount', writeField(kind, 'credit_amount', 'amount', m.credit_amount));
      continue;
    }
    const [name, type, optional] = field;
    if (m[name] === undefined) {
      if (optional) continue;
      throw missing(kind, name);
    }
    dict.set(name, writeField(kind, name, type, m[name]));
  }
  return bencode.encode(dict);
}

/**
 * @param {string} kind
 * @param {string} name
 * @param {string} type
 * @param {unknown} value
 */
function writeField(kind, name, type, value) {
  switch (type) {
    case 'amount':
    case 'u16':
    case 'u32':
    case 'u64': {
      const int = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
      if (typeof int !== 'bigint' || int < 0n || int > INT_MAX[type]) throw invalid(kind, name, 'out of range');
      return int;
    }
    case 'address':
    case 'hash':
    case 'signature': {
      const bytes = typeof value === 'string' ? fromHex(value) : value;
      if (!(bytes instanceof Uint8Array) || bytes.length !== BYTE_LENGTHS[type]) throw invalid(kind, name, 'wrong length');
      return bytes;
    }
    case 'code': {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : null;
      if (!bytes || !isCode(bytes)) throw invalid(kind, name, 'not a code');
      return bytes;
    }
    case 'text': {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : null;
      if (!bytes || bytes.length > MAX_TEXT_LEN) throw invalid(kind, name, 'too long');
      return bytes;
    }
    default:
      throw new Error(`unknown field type ${type}`);
  }
}

/**
 * The `error` message answering `error` (§5.10): its code, its text cut to 256 bytes on a character
 * boundary, and the `t` it refused when known.
 *
 * @param {PiecepayError | { code: string, message: string, regarding?: string }} error
 * @param {string} [regarding] the `t` refused, when the error does not carry it
 * @returns {ErrorMessage}
 */
export function errorReply(error, regarding) {
  const code = isCode(Buffer.from(error.code ?? '', 'utf8')) ? error.code : 'other';
  /** @type {ErrorMessage} */
  const reply = { t: 'error', code };
  const msg = truncateUtf8(error.message ?? '', MAX_TEXT_LEN);
  if (msg.length > 0) reply.msg = msg;
  const re = error.regarding ?? regarding;
  if (re !== undefined && isCode(Buffer.from(re, 'utf8'))) reply.re = re;
  return reply;
}

/**
 * The message's type without decoding its fields: `t` if `bytes` are a dictionary with a byte-string `t`,
 * else null. Never throws.
 *
 * @param {Uint8Array} bytes
 */
export function peekType(bytes) {
  try {
    const value = bencode.decode(bytes);
    const t = value instanceof Map ? value.get('t') : undefined;
    return t instanceof Uint8Array ? bencode.latin1(t) : null;
  } catch {
    return null;
  }
}

/**
 * Whether `bytes` have the code form: 1–64 bytes of `a-z`, `0-9`, `_`.
 *
 * @param {Uint8Array} bytes
 */
export function isCode(bytes) {
  if (bytes.length === 0 || bytes.length > MAX_CODE_LEN) return false;
  for (const b of bytes) {
    const ok = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f;
    if (!ok) return false;
  }
  return true;
}

/**
 * `text` cut to at most `max` bytes of UTF-8, on a character boundary.
 *
 * @param {string} text
 * @param {number} max
 */
function truncateUtf8(text, max) {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  let end = max;
  // Back up over continuation bytes (10xxxxxx) to the start of a character.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

/** @param {string} kind @param {string} field */
function missing(kind, field) {
  return new PiecepayError('missing_field', `message ${kind} lacks field ${field}`, { regarding: kind });
}

/** @param {string} kind @param {string} field @param {string} reason */
function invalid(kind, field, reason) {
  return new PiecepayError('invalid_field', `message ${kind} has an invalid ${field}: ${reason}`, { regarding: kind });
}

/**
 * Lower-case 0x-hex of `bytes`.
 *
 * @param {Uint8Array} bytes
 */
export function toHex(bytes) {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')}`;
}

/**
 * The bytes of a 0x-hex string; null if it is not one.
 *
 * @param {string} hex
 */
export function fromHex(hex) {
  if (typeof hex !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'));
}

/**
 * The `close` message of a signed `CooperativeClose`: `relayer` and `nonce` only when not zero (§5.9).
 *
 * @param {{ cumulative: bigint, fee: bigint, relayer: string, channelNonce: number, deadline: bigint }} m
 * @param {string} sig
 * @returns {CloseMessage}
 */
export function closeMessage(m, sig) {
  /** @type {CloseMessage} */
  const close = { t: 'close', cumulative: m.cumulative, fee: m.fee, deadline: m.deadline, sig };
  if (BigInt(m.relayer) !== 0n) close.relayer = m.relayer;
  if (m.channelNonce !== 0) close.nonce = m.channelNonce;
  return close;
}
