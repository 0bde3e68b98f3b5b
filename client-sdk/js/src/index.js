/**
 * piecepay for JavaScript: the wire protocol (docs/wire-protocol.md), the escrow's EIP-712 messages
 * (docs/contracts.md), per-peer payer and payee sessions, a relayer client (docs/relayer-api.md), the
 * escrow on chain, durable stores, and the WebTorrent extension that puts them together.
 */
export { PiecepayError, isPiecepayError } from './errors.js';
export * as bencode from './bencode.js';
export * as wire from './wire.js';
export { EXTENSION_NAME, VERSION, VERSION_KEY, negotiate } from './handshake.js';
export {
  DOMAIN_NAME,
  DOMAIN_VERSION,
  TYPES,
  ReceiptHasher,
  addressOf,
  channelId,
  digest,
  domain,
  recoverDigest,
  signDigest,
  signingKey,
  splitSignature,
} from './eip712.js';
export { PayeeSession } from './payee.js';
export { PayerChannel, PayerSession } from './payer.js';
export { FileStore, MemoryStore } from './store.js';
export { RelayerClient, operations } from './relayer.js';
export { ChainClient, packBatch } from './chain.js';
export { adoptOpen, checkOnChain, openOnChain, openViaRelayer } from './funding.js';
export { Piecepay } from './webtorrent.js';
