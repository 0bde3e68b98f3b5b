/**
 * Strict, canonical bencode (BEP 3) as docs/wire-protocol.md §2 specifies it for piecepay messages: one
 * value has exactly one encoding, input size and nesting depth are bounded, and every way an input can
 * break a rule has its own stable error code. The decoder reads the input once, left to right, and
 * reports the first rule broken (§2, "Decoding, step by step").
 *
 * Values: integers are `bigint`, byte strings `Uint8Array`, lists arrays, dictionaries `Map`s keyed by
 * the key's bytes as a latin1 string (one character per byte, so JavaScript's string order is the
 * bytewise order the encoding needs).
 *
 * @typedef {bigint | Uint8Array | any[] | Map<string, any>} BencodeValue
 */

import { PiecepayError } from './errors.js';

/** The most bytes one message may have (§2, Limits). */
export const MAX_MESSAGE_LEN = 4096;
/** The deepest nesting of lists and dictionaries; the message's own dictionary is level 1. */
export const MAX_DEPTH = 8;

/** An integer of more digits than this cannot be a signed 128-bit integer. */
const MAX_INT_DIGITS = 39;
/** A string length of more digits than this runs past any input the limits allow. */
const MAX_LEN_DIGITS = 10;
const INT_MAX = (1n << 127n) - 1n;
const INT_MIN = -(1n << 127n);

const D_0 = 0x30;
const D_9 = 0x39;

/**
 * Decodes exactly one canonical value filling `input`.
 *
 * @param {Uint8Array} input
 * @param {{ maxLen?: number, maxDepth?: number }} [limits]
 * @returns {BencodeValue}
 * @throws {PiecepayError} `too_large`, `too_deep`, `malformed`, `not_canonical`, `integer_out_of_range`
 */
export function decode(input, limits = {}) {
  const maxLen = limits.maxLen ?? MAX_MESSAGE_LEN;
  if (input.length > maxLen) {
    throw new PiecepayError('too_large', `message of ${input.length} bytes exceeds the limit of ${maxLen}`);
  }
  const reader = new Reader(input, limits.maxDepth ?? MAX_DEPTH);
  const value = reader.value(0);
  if (reader.pos !== input.length) throw reader.malformed('trailing bytes after the value');
  return value;
}

class Reader {
  /**
   * @param {Uint8Array} input
   * @param {number} maxDepth
   */
  constructor(input, maxDepth) {
    this.input = input;
    this.pos = 0;
    this.maxDepth = maxDepth;
  }

  /** @param {string} reason */
  malformed(reason) {
    return new PiecepayError('malformed', `malformed bencode at byte ${this.pos}: ${reason}`);
  }

  peek() {
    if (this.pos >= this.input.length) throw this.malformed('unexpected end of input');
    return this.input[this.pos];
  }

  /**
   * @param {number} depth lists and dictionaries around this value (0 for the outermost)
   * @returns {BencodeValue}
   */
  value(depth) {
    const first = this.peek();
    if (first === 0x69 /* i */) return this.int();
    if (first >= D_0 && first <= D_9) return this.bytes();
    if (first === 0x6c /* l */) {
      this.enter(depth);
      const items = [];
      while (this.peek() !== 0x65 /* e */) items.push(this.value(depth + 1));
      this.pos += 1;
      return items;
    }
    if (first === 0x64 /* d */) {
      this.enter(depth);
      /** @type {Map<string, BencodeValue>} */
      const entries = new Map();
      /** @type {string | null} */
      let last = null;
      while (this.peek() !== 0x65) {
        const keyAt = this.pos;
        const b = this.peek();
        if (b < D_0 || b > D_9) throw this.malformed('dictionary key is not a byte string');
        const key = latin1(this.bytes());
        if (last !== null && key <= last) {
          const reason = key === last ? 'duplicate dictionary key' : 'dictionary keys not sorted';
          throw new PiecepayError('not_canonical', `non-canonical bencode at byte ${keyAt}: ${reason}`);
        }
        entries.set(key, this.value(depth + 1));
        last = key;
      }
      this.pos += 1;
      return entries;
    }
    throw this.malformed('not the start of a value');
  }

  /** @param {number} depth */
  enter(depth) {
    if (depth >= this.maxDepth) {
      throw new PiecepayError('too_deep', `nesting deeper than ${this.maxDepth}`);
    }
    this.pos += 1;
  }

  /**
   * The run of ASCII digits at the cursor.
   *
   * @param {number} max the most digits allowed
   * @param {() => PiecepayError} tooLong the error for a longer run
   */
  digits(max, tooLong) {
    const start = this.pos;
    let end = start;
    while (end < this.input.length && this.input[end] >= D_0 && this.input[end] <= D_9) end += 1;
    const run = end - start;
    if (run === 0) throw this.malformed('expected a digit');
    if (run > max) throw tooLong();
    if (run > 1 && this.input[start] === D_0) {
      throw new PiecepayError('not_canonical', `non-canonical bencode at byte ${start}: leading zero`);
    }
    this.pos = end;
    return this.input.subarray(start, end);
  }

  /** @param {number} byte @param {string} reason */
  expect(byte, reason) {
    if (this.peek() !== byte) throw this.malformed(reason);
    this.pos += 1;
  }

  int() {
    const start = this.pos;
    this.pos += 1;
    const negative = this.peek() === 0x2d; /* - */
    if (negative) this.pos += 1;
    const outOfRange = () =>
      new PiecepayError('integer_out_of_range', `integer out of range at byte ${start}`);
    const digits = this.digits(MAX_INT_DIGITS, outOfRange);
    if (negative && digits.length === 1 && digits[0] === D_0) {
      throw new PiecepayError('not_canonical', `non-canonical bencode at byte ${start}: negative zero`);
    }
    let value = BigInt(String.fromCharCode(...digits));
    if (negative) value = -value;
    if (value > INT_MAX || value < INT_MIN) throw outOfRange();
    this.expect(0x65, "integer not terminated by 'e'");
    return value;
  }

  bytes() {
    const tooLong = () => this.malformed('string length runs past the end of the input');
    const digits = this.digits(MAX_LEN_DIGITS, tooLong);
    let len = 0;
    for (const d of digits) len = len * 10 + (d - D_0);
    this.expect(0x3a /* : */, "string length not followed by ':'");
    const end = this.pos + len;
    if (end > this.input.length) throw tooLong();
    const out = this.input.slice(this.pos, end);
    this.pos = end;
    return out;
  }
}

/**
 * The canonical encoding of `value`. Dictionaries may be `Map`s or plain objects (keys as latin1 or
 * ASCII strings); strings are encoded as UTF-8 byte strings; `number`s must be safe integers.
 *
 * @param {BencodeValue | string | number | Record<string, any>} value
 * @returns {Uint8Array}
 */
export function encode(value) {
  /** @type {Uint8Array[]} */
  const out = [];
  encodeInto(value, out);
  return Buffer.concat(out);
}

/**
 * @param {any} value
 * @param {Uint8Array[]} out
 */
function encodeInto(value, out) {
  if (typeof value === 'bigint' || typeof value === 'number') {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new TypeError(`bencode: ${value} is not a safe integer`);
    }
    out.push(Buffer.from(`i${value}e`, 'latin1'));
  } else if (typeof value === 'string') {
    encodeBytes(Buffer.from(value, 'utf8'), out);
  } else if (value instanceof Uint8Array) {
    encodeBytes(value, out);
  } else if (Array.isArray(value)) {
    out.push(Buffer.from('l'));
    for (const item of value) encodeInto(item, out);
    out.push(Buffer.from('e'));
  } else if (value instanceof Map || (value !== null && typeof value === 'object')) {
    const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
    // Bytewise key order: latin1 strings compare as their bytes do.
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out.push(Buffer.from('d'));
    for (const [key, item] of entries) {
      encodeBytes(Buffer.from(key, 'latin1'), out);
      encodeInto(item, out);
    }
    out.push(Buffer.from('e'));
  } else {
    throw new TypeError(`bencode: cannot encode ${value === null ? 'null' : typeof value}`);
  }
}

/**
 * @param {Uint8Array} bytes
 * @param {Uint8Array[]} out
 */
function encodeBytes(bytes, out) {
  out.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes);
}

/**
 * A byte string as a latin1 string (one character per byte): how dictionary keys are held.
 *
 * @param {Uint8Array} bytes
 */
export function latin1(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}
