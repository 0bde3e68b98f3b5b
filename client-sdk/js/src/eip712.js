/**
 * The escrow's EIP-712 messages (docs/contracts.md "EIP-712"), signing and recovery with ethers v6.
 *
 * Signatures are EIP-2098 compact, 64 bytes `r ‖ vs` as lower-case 0x-hex (the wire's `signature`
 * type, the relayer API's `{r, vs}` split in two). High-s signatures are refused everywhere, as the escrow
 * refuses them.
 */

import { AbiCoder, SigningKey, Signature, TypedDataEncoder, getAddress, getBytes, keccak256, recoverAddress } from 'ethers';

import { PiecepayError } from './errors.js';
import { fromHex, toHex } from './wire.js';

export const DOMAIN_NAME = 'piecepay';
export const DOMAIN_VERSION = '1';

/**
 * The signed messages, field for field as docs/contracts.md lists them (the escrow's PaymentHash.sol is
 * the one definition; test/eip712.test.js checks these against contracts/test/fixtures/eip712.json).
 */
/** The fields of a signed open and of a signed top-up. */
const CHANNEL_FUNDING = [
  { name: 'payee', type: 'address' },
  { name: 'salt', type: 'uint32' },
  { name: 'deposit', type: 'uint96' },
  { name: 'fee', type: 'uint96' },
  { name: 'relayer', type: 'address' },
  { name: 'channelNonce', type: 'uint16' },
  { name: 'deadline', type: 'uint40' },
];

export const TYPES = Object.freeze({
  Receipt: [
    { name: 'payee', type: 'address' },
    { name: 'salt', type: 'uint32' },
    { name: 'cumulative', type: 'uint96' },
  ],
  OpenChannel: CHANNEL_FUNDING,
  // The same fields as OpenChannel (docs/contracts.md): only the type name, and so the hash, differs.
  TopUp: CHANNEL_FUNDING,
  RequestClose: [
    { name: 'payee', type: 'address' },
    { name: 'salt', type: 'uint32' },
    { name: 'fee', type: 'uint96' },
    { name: 'relayer', type: 'address' },
    { name: 'deadline', type: 'uint40' },
  ],
  Withdrawal: [
    { name: 'to', type: 'address' },
    { name: 'amount', type: 'uint128' },
    { name: 'fee', type: 'uint128' },
    { name: 'relayer', type: 'address' },
    { name: 'nonce', type: 'uint64' },
    { name: 'deadline', type: 'uint40' },
  ],
  SettleFeeCap: [
    { name: 'bps', type: 'uint16' },
    { name: 'relayer', type: 'address' },
    { name: 'nonce', type: 'uint64' },
    { name: 'deadline', type: 'uint40' },
  ],
  CooperativeClose: [
    { name: 'payer', type: 'address' },
    { name: 'payee', type: 'address' },
    { name: 'salt', type: 'uint32' },
    { name: 'cumulative', type: 'uint96' },
    { name: 'fee', type: 'uint96' },
    { name: 'relayer', type: 'address' },
    { name: 'channelNonce', type: 'uint16' },
    { name: 'deadline', type: 'uint40' },
  ],
});

/** @typedef {keyof typeof TYPES} PrimaryType */

/** secp256k1's group order, and half of it: the low-s bound. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;
const abi = AbiCoder.defaultAbiCoder();
const RECEIPT_TYPEHASH = keccak256(Buffer.from('Receipt(address payee,uint32 salt,uint96 cumulative)'));

/**
 * The escrow's EIP-712 domain: every signature is bound to one chain and one contract.
 *
 * @param {bigint | number} chainId
 * @param {string} escrow
 */
export function domain(chainId, escrow) {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: BigInt(chainId), verifyingContract: getAddress(escrow) };
}

/**
 * `keccak256(abi.encode(payer, payee, uint32 salt))`: the escrow's channel id.
 *
 * @param {string} payer
 * @param {string} payee
 * @param {number} salt
 */
export function channelId(payer, payee, salt) {
  return keccak256(abi.encode(['address', 'address', 'uint32'], [payer, payee, salt]));
}

/**
 * The EIP-712 signing hash of any of the escrow's messages, through ethers' `TypedDataEncoder`.
 *
 * @param {ReturnType<typeof domain>} dom
 * @param {PrimaryType} type
 * @param {Record<string, unknown>} message
 */
export function digest(dom, type, message) {
  return TypedDataEncoder.hash(dom, { [type]: TYPES[type] }, message);
}

/**
 * Hashes receipts of one domain with its separator computed once: two keccaks per receipt, not the
 * generic encoder's walk of the domain and type strings (the payer signs one per piece, the payee
 * verifies them). Equal to `digest(dom, 'Receipt', …)`, which the tests check.
 */
export class ReceiptHasher {
  /** @param {ReturnType<typeof domain>} dom */
  constructor(dom) {
    this.separator = fromHex(TypedDataEncoder.hashDomain(dom));
    this.typehash = fromHex(RECEIPT_TYPEHASH);
    this.struct = new Uint8Array(128);
    this.struct.set(/** @type {Uint8Array} */ (this.typehash), 0);
    this.outer = new Uint8Array(66);
    this.outer[0] = 0x19;
    this.outer[1] = 0x01;
    this.outer.set(/** @type {Uint8Array} */ (this.separator), 2);
  }

  /**
   * @param {string} payee
   * @param {number} salt
   * @param {bigint} cumulative
   * @returns {string} the signing hash, 0x-hex
   */
  digest(payee, salt, cumulative) {
    const s = this.struct;
    s.fill(0, 32);
    const address = fromHex(payee);
    if (!address || address.length !== 20) throw new PiecepayError('invalid_address', `payee ${payee} is not an address`);
    s.set(address, 32 + 12);
    writeUint(s, 64, BigInt(salt));
    writeUint(s, 96, cumulative);
    this.outer.set(getBytes(keccak256(s)), 34);
    return keccak256(this.outer);
  }
}

/**
 * Writes `value` big-endian into the 32-byte word of `buf` at `offset` (the word is zero already).
 *
 * @param {Uint8Array} buf
 * @param {number} offset
 * @param {bigint} value
 */
function writeUint(buf, offset, value) {
  let v = value;
  for (let i = offset + 31; v > 0n; i -= 1) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * Signs a 32-byte digest: the EIP-2098 compact signature (ethers signs deterministically, RFC 6979, with
 * low s).
 *
 * @param {SigningKey} key
 * @param {string} hash 0x-hex digest
 * @returns {string} `r ‖ vs`, 0x-hex
 */
export function signDigest(key, hash) {
  const sig = key.sign(hash);
  return `${sig.r}${sig.yParityAndS.slice(2)}`.toLowerCase();
}

/**
 * The address whose key signed `hash`, refusing what the escrow refuses.
 *
 * @param {string} hash 0x-hex digest
 * @param {string} signature `r ‖ vs`, 0x-hex
 * @returns {string} the signer's address (EIP-55)
 * @throws {PiecepayError} `invalid_signature_length`, `signature_high_s`, `invalid_signature`
 */
export function recoverDigest(hash, signature) {
  const bytes = fromHex(signature);
  if (!bytes || bytes.length !== 64) {
    throw new PiecepayError('invalid_signature_length', `a signature has 64 bytes, not ${bytes ? bytes.length : 'this'}`);
  }
  const r = BigInt(toHex(bytes.subarray(0, 32)));
  const vs = BigInt(toHex(bytes.subarray(32)));
  const s = vs & ((1n << 255n) - 1n);
  if (s > HALF_N) throw new PiecepayError('signature_high_s', 'signature s is above n/2 (malleable)');
  if (r === 0n || r >= N || s === 0n) throw new PiecepayError('invalid_signature', 'no signer can be recovered');
  try {
    return recoverAddress(hash, Signature.from(toHex(bytes)));
  } catch (cause) {
    throw new PiecepayError('invalid_signature', 'no signer can be recovered', { cause });
  }
}

/**
 * @typedef {object} PartyConfig one side of channels on one escrow
 * @property {bigint | number} chainId the escrow's chain
 * @property {string} escrow the escrow's address
 * @property {string} token the ERC-20 the escrow holds
 * @property {string | SigningKey} key the party's secret key
 */

/** A party's key and address and its escrow's domain, checked once: what both sessions start from. */
export class Party {
  /** @param {PartyConfig} config */
  constructor(config) {
    this.key = signingKey(config.key);
    this.address = addressOf(this.key);
    this.chainId = BigInt(config.chainId);
    this.escrow = getAddress(config.escrow);
    this.token = getAddress(config.token);
    this.domain = domain(this.chainId, this.escrow);
  }
}

/**
 * A signing key from a 0x-hex secret.
 *
 * @param {string | SigningKey} key
 */
export function signingKey(key) {
  if (key instanceof SigningKey) return key;
  try {
    return new SigningKey(key);
  } catch (cause) {
    throw new PiecepayError('invalid_key', 'not a 32-byte secp256k1 secret key', { cause });
  }
}

/**
 * The address of a key.
 *
 * @param {SigningKey} key
 */
export function addressOf(key) {
  return getAddress(`0x${keccak256(`0x${key.publicKey.slice(4)}`).slice(-40)}`);
}

/**
 * A signature split the way the relayer API sends it.
 *
 * @param {string} signature `r ‖ vs`, 0x-hex
 */
export function splitSignature(signature) {
  return { r: signature.slice(0, 66), vs: `0x${signature.slice(66)}` };
}
