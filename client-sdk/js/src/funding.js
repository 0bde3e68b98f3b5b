/**
 * Where deposits come from and how they are checked: ready-made `checkChannel` (payee) and `fund` (payer)
 * functions for `Piecepay` (src/webtorrent.js), over the chain (src/chain.js) and a relayer
 * (src/relayer.js).
 */

import { PiecepayError } from './errors.js';
import { operations } from './relayer.js';

/**
 * Payee: the deposit of an announced channel as the escrow stores it (at the chain client's confirmation
 * depth), or null unless it is open.
 *
 * @param {import('./chain.js').ChainClient} chain
 * @returns {(claim: import('./outcome.js').ChannelClaim) => Promise<bigint | null>}
 */
export function checkOnChain(chain) {
  return async (claim) => {
    const c = await chain.channel(claim.id);
    return c.state === 'open' ? c.deposit : null;
  };
}

/**
 * Payer: adopts a channel already open on chain (opened by whoever funds this payer); fails when it is not.
 *
 * @param {import('./chain.js').ChainClient} chain
 * @returns {(channel: import('./payer.js').PayerChannel) => Promise<{ deposit: bigint }>}
 */
export function adoptOpen(chain) {
  return async (channel) => {
    const open = await openDeposit(chain, channel);
    if (open === null) throw new PiecepayError('not_open', `channel ${channel.id} is not open on chain`);
    return { deposit: open };
  };
}

/**
 * Payer: opens the channel with `deposit` from the payer's free balance in the escrow, sending the
 * transaction itself (it needs gas); adopts the channel if it is open already.
 *
 * @param {import('./chain.js').ChainClient} chain connected with the payer's key
 * @param {bigint} deposit
 * @returns {(channel: import('./payer.js').PayerChannel) => Promise<{ deposit: bigint, tx?: string }>}
 */
export function openOnChain(chain, deposit) {
  return async (channel) => {
    const open = await openDeposit(chain, channel);
    if (open !== null) return { deposit: open };
    const receipt = await chain.openChannel(channel.payee, channel.salt, deposit);
    return { deposit, tx: receipt.hash };
  };
}

/**
 * Payer: opens the channel gaslessly — signs `OpenChannel` and hands it to a relayer, which submits it
 * and takes `fee` (at least its minimum) from the payer's free balance — and waits until the relayer
 * reports it applied on chain. Adopts the channel if `chain` shows it open already.
 *
 * @param {import('./relayer.js').RelayerClient} relayer
 * @param {{ deposit: bigint, fee?: bigint, ttlSeconds?: number, pollMs?: number, timeoutMs?: number,
 *   chain?: import('./chain.js').ChainClient }} options
 * @returns {(channel: import('./payer.js').PayerChannel) => Promise<{ deposit: bigint, tx?: string }>}
 */
export function openViaRelayer(relayer, options) {
  return async (channel) => {
    if (options.chain) {
      const open = await openDeposit(options.chain, channel);
      if (open !== null) return { deposit: open };
    }
    const info = await relayer.info();
    const minimum = info.min_fees.open ?? 0n;
    const fee = options.fee !== undefined && options.fee > minimum ? options.fee : minimum;
    const deadline = BigInt(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600));
    // Bound to this relayer: a copier of its batch could not submit the open, nor take its fee.
    const auth = channel.signOpen(options.deposit, fee, deadline, info.relayer);
    const [result] = await relayer.submitOperations([operations.open(auth)]);
    if (result.status === 'rejected') {
      throw new PiecepayError(result.code, `the relayer refused the open of ${channel.id}: ${result.message}`);
    }
    const until = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const status = await relayer.operation(result.operationId);
      if (status?.status === 'applied') return { deposit: options.deposit, tx: status.transaction_hash };
      if (status?.status === 'failed' || status?.status === 'expired') {
        throw new PiecepayError('open_failed', `the open of ${channel.id} ${status.status} (${status.reason ?? 'no reason'})`);
      }
      if (Date.now() > until) throw new PiecepayError('open_timeout', `the open of ${channel.id} was not applied in time`);
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
    }
  };
}

/**
 * The deposit of `channel` if it is open on chain, else null.
 *
 * @param {import('./chain.js').ChainClient} chain
 * @param {import('./payer.js').PayerChannel} channel
 */
async function openDeposit(chain, channel) {
  const c = await chain.channel(channel.id);
  return c.state === 'open' ? c.deposit : null;
}
