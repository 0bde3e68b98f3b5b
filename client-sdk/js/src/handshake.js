/**
 * What piecepay adds to the BEP 10 extended handshake, and version negotiation
 * (docs/wire-protocol.md §1).
 */

/** The extension's name in the handshake's `m` dictionary. */
export const EXTENSION_NAME = 'piecepay';
/** The handshake key carrying the highest protocol version a peer speaks. */
export const VERSION_KEY = 'piecepay_v';
/** The highest protocol version this package speaks. */
export const VERSION = 1;

/**
 * The version to speak with a peer whose extended handshake is `handshake` (as decoded by a bencode
 * library: `m` a dictionary, integers as numbers, bigints or byte strings of digits are not accepted),
 * or null when it does not speak piecepay: no `piecepay` id (or id 0, "disabled" in BEP 10) in `m`, no
 * integer `piecepay_v`, or one below 1.
 *
 * @param {Record<string, any> | null | undefined} handshake
 * @returns {number | null}
 */
export function negotiate(handshake) {
  if (!handshake || typeof handshake !== 'object') return null;
  const id = handshake.m && typeof handshake.m === 'object' ? integer(handshake.m[EXTENSION_NAME]) : null;
  if (id === null || id < 1n || id > 255n) return null;
  const theirs = integer(handshake[VERSION_KEY]);
  if (theirs === null || theirs < 1n) return null;
  return theirs < BigInt(VERSION) ? Number(theirs) : VERSION;
}

/**
 * @param {unknown} value
 * @returns {bigint | null}
 */
function integer(value) {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return null;
}
