/**
 * The escrow on chain, through ethers v6 (`Contract` over the ABI generated from the forge artifacts,
 * src/generated/abi.js): read channels and balances, deposit, open, top up, settle, close, withdraw.
 * docs/contracts.md says what each call does; the payee reads channels here to check a peer's
 * `channel` claim (docs/wire-protocol.md §5.5), at a confirmation depth of its choice.
 */

import { Contract, JsonRpcProvider, Wallet, concat, getAddress, toBeHex, zeroPadValue } from 'ethers';

import { splitSignature } from './eip712.js';
import { PiecepayError } from './errors.js';
import { ESCROW_ABI, TOKEN_ABI } from './generated/abi.js';

const STATES = ['none', 'open', 'closing', 'closed'];

/**
 * @typedef {{ deposit: bigint, settled: bigint, closesAt: bigint, nonce: number,
 *   state: 'none' | 'open' | 'closing' | 'closed' }} ChannelState `nonce`: the channel nonce its opens, top-ups and
 *   cooperative closes are signed under
 */

export class ChainClient {
  /**
   * Connects to `rpcUrl` and checks that `escrow` is a contract there: a wrong URL, chain or address
   * fails here, in one line, before anything is served or sent.
   *
   * @param {{ rpcUrl: string, escrow: string, key?: string, confirmations?: number }} options `key`: the
   *   account that sends transactions (none: read-only); `confirmations`: blocks a channel read must be
   *   buried under (default 0: the latest block)
   */
  static async connect(options) {
    const provider = new JsonRpcProvider(options.rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1 });
    let chainId;
    let code;
    try {
      chainId = (await provider.getNetwork()).chainId;
      code = await provider.getCode(options.escrow);
    } catch (cause) {
      provider.destroy();
      throw new PiecepayError('chain_unreachable', `${options.rpcUrl}: ${/** @type {Error} */ (cause).message}`, { cause });
    }
    if (code === '0x') {
      provider.destroy();
      throw new PiecepayError('not_an_escrow', `no contract at ${options.escrow} on chain ${chainId} (${options.rpcUrl})`);
    }
    const signer = options.key ? new Wallet(options.key, provider) : null;
    const escrow = new Contract(getAddress(options.escrow), ESCROW_ABI, signer ?? provider);
    const token = new Contract(await escrow.TOKEN(), TOKEN_ABI, signer ?? provider);
    return new ChainClient({ provider, chainId, escrow, token, signer, confirmations: options.confirmations ?? 0 });
  }

  /**
   * @param {{ provider: JsonRpcProvider, chainId: bigint, escrow: Contract, token: Contract, signer: Wallet | null,
   *   confirmations: number }} parts
   */
  constructor(parts) {
    this.provider = parts.provider;
    this.chainId = parts.chainId;
    this.escrow = parts.escrow;
    this.token = parts.token;
    this.signer = parts.signer;
    this.confirmations = parts.confirmations;
  }

  /** The escrow's address. */
  get escrowAddress() {
    return /** @type {string} */ (this.escrow.target);
  }

  /** The token's address. */
  get tokenAddress() {
    return /** @type {string} */ (this.token.target);
  }

  /** The account transactions are sent from. */
  get address() {
    return this.requireSigner().address;
  }

  requireSigner() {
    if (!this.signer) throw new PiecepayError('no_signer', 'this chain client was connected without a key');
    return this.signer;
  }

  /**
   * A channel as the escrow stores it, at the confirmation depth.
   *
   * @param {string} id
   * @returns {Promise<ChannelState>}
   */
  async channel(id) {
    const blockTag = this.confirmations > 0 ? Math.max(0, (await this.provider.getBlockNumber()) - this.confirmations) : 'latest';
    const c = await this.escrow.channel(id, { blockTag });
    return {
      deposit: c.deposit,
      settled: c.settled,
      closesAt: c.closesAt,
      nonce: Number(c.nonce),
      state: /** @type {any} */ (STATES[Number(c.state)] ?? 'none'),
    };
  }

  /** @param {string} account the free balance in the escrow */
  async balanceOf(account) {
    return /** @type {Promise<bigint>} */ (this.escrow.balanceOf(account));
  }

  /** @param {string} account the token balance */
  async tokenBalanceOf(account) {
    return /** @type {Promise<bigint>} */ (this.token.balanceOf(account));
  }

  /**
   * Moves `amount` tokens from this account into its free balance in the escrow (approve, then deposit).
   *
   * @param {bigint} amount
   * @param {string} [account] whose free balance is credited (default: this account)
   */
  async deposit(amount, account) {
    const me = this.address;
    await wait(this.token.approve(this.escrowAddress, amount));
    return wait(this.escrow.deposit(account ?? me, amount));
  }

  /**
   * Opens the channel this account → `payee` with `salt`, funded from the free balance.
   *
   * @param {string} payee
   * @param {number} salt
   * @param {bigint} amount
   */
  async openChannel(payee, salt, amount) {
    return wait(this.escrow.openChannel(payee, salt, amount));
  }

  /** @param {string} payee @param {number} salt @param {bigint} amount added to the deposit */
  async topUp(payee, salt, amount) {
    return wait(this.escrow.topUp(payee, salt, amount));
  }

  /**
   * Settles receipts itself (`settleBatch`), without a relayer: packed and grouped by payee as
   * docs/contracts.md describes. Returns the transaction receipt.
   *
   * @param {{ payee: string, salt: number, cumulative: bigint, sig: string }[]} receipts
   * @param {number} [feeBps] what the sender keeps (at most each payee's cap; 0 when settling one's own)
   */
  async settle(receipts, feeBps = 0) {
    return wait(this.escrow.settleBatch(packBatch(receipts, feeBps)));
  }

  /**
   * Submits a cooperative close with both signatures.
   *
   * @param {import('./outcome.js').SignedClose} close
   */
  async cooperativeClose(close) {
    const auth = {
      payer: close.payer,
      payee: close.payee,
      salt: close.salt,
      cumulative: close.cumulative,
      fee: close.fee,
      relayer: close.relayer,
      channelNonce: close.channelNonce,
      deadline: close.deadline,
    };
    return wait(this.escrow.cooperativeClose(auth, splitSignature(close.payerSig), splitSignature(close.payeeSig)));
  }

  /** @param {string} to @param {bigint} amount from this account's free balance */
  async withdraw(to, amount) {
    return wait(this.escrow.withdraw(to, amount));
  }

  /** Stops the provider's timers. */
  destroy() {
    this.provider.destroy();
  }
}

/**
 * `settleBatch`'s calldata: per payee, `payee (20) ‖ feeBps (2) ‖ count (2)`, then per receipt
 * `salt (4) ‖ cumulative (12) ‖ r (32) ‖ vs (32)`.
 *
 * @param {{ payee: string, salt: number, cumulative: bigint, sig: string }[]} receipts
 * @param {number} feeBps
 */
export function packBatch(receipts, feeBps) {
  /** @type {Map<string, typeof receipts>} */
  const groups = new Map();
  for (const r of receipts) {
    const payee = getAddress(r.payee);
    groups.set(payee, [...(groups.get(payee) ?? []), r]);
  }
  const parts = [];
  for (const [payee, group] of groups) {
    for (let i = 0; i < group.length; i += 0xffff) {
      const chunk = group.slice(i, i + 0xffff);
      parts.push(payee, toBeHex(feeBps, 2), toBeHex(chunk.length, 2));
      for (const r of chunk) parts.push(toBeHex(r.salt, 4), zeroPadValue(toBeHex(r.cumulative), 12), r.sig);
    }
  }
  return concat(parts);
}

/**
 * Waits for a sent transaction to be mined and fails clearly if it reverted.
 *
 * @param {Promise<import('ethers').ContractTransactionResponse>} sent
 */
async function wait(sent) {
  const tx = await sent;
  const receipt = await tx.wait();
  if (!receipt || receipt.status !== 1) throw new PiecepayError('transaction_failed', `transaction ${tx.hash} reverted`);
  return receipt;
}
