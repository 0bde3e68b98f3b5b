/**
 * A client of a relayer's HTTP API, v1 (docs/relayer-api.md): hand it signed receipts and gasless
 * operations, and follow channels, settlements and operations.
 *
 * It keeps the API's conventions: amounts, fees and nonces are decimal strings on the wire and `bigint`s
 * here; signatures go as `{r, vs}`. Like the SDK's Rust client it retries connection failures, timeouts and
 * 5xx with backoff (resubmitting is always safe: the API is idempotent) and never retries a 4xx. Errors
 * are `PiecepayError`s: the API's code and HTTP status for a 4xx, `relayer_unavailable` when every attempt
 * failed, `invalid_relayer_response` for a 2xx body that does not fit the request.
 */

import { getAddress } from 'ethers';

import { splitSignature } from './eip712.js';
import { PiecepayError } from './errors.js';

/** The most receipts, and operations, one request may carry (the API's limits). */
export const MAX_RECEIPTS_PER_REQUEST = 1000;
export const MAX_OPERATIONS_PER_REQUEST = 100;

/**
 * @typedef {object} RelayerClientOptions
 * @property {number} [timeoutMs] per attempt (default 10 s)
 * @property {number} [attempts] (default 4)
 * @property {number[]} [backoffMs] waits between attempts (default 250, 500, 1000 ms; the last repeats)
 * @property {typeof fetch} [fetch]
 *
 * @typedef {{ payee: string, salt: number, cumulative: bigint, sig: string }} SignedReceipt
 * @typedef {{ status: 'accepted' | 'duplicate', channelId: string, payer: string, cumulative: bigint }
 *   | { status: 'rejected', code: string, message: string }} ReceiptResult
 * @typedef {{ status: 'queued' | 'duplicate', operationId: string }
 *   | { status: 'rejected', code: string, message: string }} OperationResult
 */

export class RelayerClient {
  /**
   * @param {string} baseUrl e.g. `http://127.0.0.1:8080`
   * @param {{ chainId: bigint | number, escrow: string }} domain the escrow every request is made for
   * @param {RelayerClientOptions} [options]
   */
  constructor(baseUrl, domain, options = {}) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.chainId = Number(domain.chainId);
    this.escrow = getAddress(domain.escrow);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attempts = options.attempts ?? 4;
    this.backoffMs = options.backoffMs ?? [250, 500, 1000];
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** `GET /v1/info`: the escrow, fees and limits of this relayer. */
  async info() {
    const body = await this.request('GET', '/v1/info');
    return {
      ...body,
      min_fees: Object.fromEntries(Object.entries(body.min_fees ?? {}).map(([k, v]) => [k, amount(v)])),
    };
  }

  /**
   * `POST /v1/receipts`, split into requests of at most 1,000: one result per receipt, in order.
   *
   * @param {SignedReceipt[]} receipts
   * @returns {Promise<ReceiptResult[]>}
   */
  async submitReceipts(receipts) {
    /** @type {ReceiptResult[]} */
    const results = [];
    for (let i = 0; i < receipts.length; i += MAX_RECEIPTS_PER_REQUEST) {
      const chunk = receipts.slice(i, i + MAX_RECEIPTS_PER_REQUEST);
      const body = await this.request('POST', '/v1/receipts', {
        chain_id: this.chainId,
        escrow: this.escrow,
        receipts: chunk.map((r) => ({
          payee: getAddress(r.payee),
          salt: r.salt,
          cumulative: r.cumulative.toString(),
          signature: splitSignature(r.sig),
        })),
      });
      const got = resultsOf(body, chunk.length);
      for (const r of got) {
        results.push(
          r.status === 'rejected'
            ? { status: 'rejected', code: r.code, message: r.message }
            : { status: r.status, channelId: r.channel_id, payer: r.payer, cumulative: amount(r.cumulative) },
        );
      }
    }
    return results;
  }

  /**
   * `POST /v1/operations`, split into requests of at most 100: one result per operation. Build operations
   * with `operations.*` below.
   *
   * @param {Record<string, unknown>[]} operations
   * @returns {Promise<OperationResult[]>}
   */
  async submitOperations(operations) {
    /** @type {OperationResult[]} */
    const results = [];
    for (let i = 0; i < operations.length; i += MAX_OPERATIONS_PER_REQUEST) {
      const chunk = operations.slice(i, i + MAX_OPERATIONS_PER_REQUEST);
      const body = await this.request('POST', '/v1/operations', { chain_id: this.chainId, escrow: this.escrow, operations: chunk });
      for (const r of resultsOf(body, chunk.length)) {
        results.push(r.status === 'rejected' ? { status: 'rejected', code: r.code, message: r.message } : { status: r.status, operationId: r.operation_id });
      }
    }
    return results;
  }

  /**
   * `GET /v1/operations/{id}`, or null for an operation never queued here.
   *
   * @param {string} operationId
   */
  async operation(operationId) {
    return this.getOrNull(`/v1/operations/${operationId}`, 'unknown_operation');
  }

  /**
   * `GET /v1/channels/{id}` (amounts as `bigint`), or null for a channel the relayer has not indexed.
   *
   * @param {string} channelId
   */
  async channel(channelId) {
    const body = await this.getOrNull(`/v1/channels/${channelId}`, 'unknown_channel');
    if (!body) return null;
    return {
      ...body,
      deposit: amount(body.deposit),
      settled: amount(body.settled),
      latest_receipt: body.latest_receipt ? { ...body.latest_receipt, cumulative: amount(body.latest_receipt.cumulative) } : null,
    };
  }

  /**
   * `GET /v1/channels/{id}/settlement`, or null for an unknown channel.
   *
   * @param {string} channelId
   */
  async settlement(channelId) {
    const body = await this.getOrNull(`/v1/channels/${channelId}/settlement`, 'unknown_channel');
    if (!body) return null;
    return { ...body, received: amount(body.received), settled: amount(body.settled) };
  }

  /** `GET /readyz`: 200 and 503 both answer (503 is "not ready", not an error). */
  async readiness() {
    return this.request('GET', '/readyz', undefined, { acceptStatus: 503, retry: false });
  }

  /**
   * @param {string} path
   * @param {string} notFound the 404 code meaning "no such thing"
   */
  async getOrNull(path, notFound) {
    try {
      return await this.request('GET', path);
    } catch (error) {
      if (error instanceof PiecepayError && error.status === 404 && error.code === notFound) return null;
      throw error;
    }
  }

  /**
   * One call, retried as the API's guarantees allow.
   *
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{ acceptStatus?: number, retry?: boolean }} [how]
   */
  async request(method, path, body, how = {}) {
    const url = `${this.base}${path}`;
    const attempts = how.retry === false ? 1 : this.attempts;
    let reason = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (attempt > 1) await sleep(this.backoffMs[Math.min(attempt - 2, this.backoffMs.length - 1)]);
      let response;
      try {
        response = await this.fetch(url, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        reason = `${method} ${path}: ${/** @type {Error} */ (error).message}`;
        continue;
      }
      const text = await response.text().catch(() => '');
      if (response.status >= 500 && response.status !== how.acceptStatus) {
        reason = `${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`;
        continue;
      }
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        throw new PiecepayError('invalid_relayer_response', `${method} ${path}: HTTP ${response.status} with a body that is not JSON`, {
          status: response.status,
        });
      }
      if (response.status >= 400 && response.status !== how.acceptStatus) {
        throw new PiecepayError(typeof json.code === 'string' ? json.code : 'unknown', `relayer: ${json.message ?? text}`, {
          status: response.status,
        });
      }
      return json;
    }
    throw new PiecepayError('relayer_unavailable', `relayer unavailable after ${attempts} attempts: ${reason}`);
  }
}

/**
 * The signed gasless operations as `POST /v1/operations` takes them (docs/relayer-api.md): each takes the
 * fields of the signed EIP-712 message and its signature (`r ‖ vs` hex, as `eip712.signDigest` makes).
 */
export const operations = {
  /**
   * @param {{ payer: string, payee: string, salt: number, deposit: bigint, fee: bigint, relayer: string,
   *   channelNonce: number, deadline: bigint, sig: string }} o
   */
  open: (o) => ({
    type: 'open',
    payer: getAddress(o.payer),
    payee: getAddress(o.payee),
    salt: o.salt,
    deposit: o.deposit.toString(),
    fee: o.fee.toString(),
    relayer: getAddress(o.relayer),
    channel_nonce: o.channelNonce,
    deadline: Number(o.deadline),
    signature: splitSignature(o.sig),
  }),
  /**
   * @param {{ payer: string, payee: string, salt: number, deposit: bigint, fee: bigint, relayer: string,
   *   channelNonce: number, deadline: bigint, sig: string }} o
   */
  topUp: (o) => ({ ...operations.open(o), type: 'top_up' }),
  /**
   * @param {import('./outcome.js').SignedClose} c
   */
  cooperativeClose: (c) => ({
    type: 'cooperative_close',
    payer: getAddress(c.payer),
    payee: getAddress(c.payee),
    salt: c.salt,
    cumulative: c.cumulative.toString(),
    fee: c.fee.toString(),
    relayer: getAddress(c.relayer),
    channel_nonce: c.channelNonce,
    deadline: Number(c.deadline),
    payer_signature: splitSignature(c.payerSig),
    payee_signature: splitSignature(c.payeeSig),
  }),
};

/**
 * @param {any} body
 * @param {number} expected
 * @returns {any[]}
 */
function resultsOf(body, expected) {
  if (!body || !Array.isArray(body.results) || body.results.length !== expected) {
    throw new PiecepayError('invalid_relayer_response', `expected ${expected} results, got ${JSON.stringify(body)?.slice(0, 200)}`);
  }
  return body.results;
}

/** @param {unknown} value a decimal string from the API */
function amount(value) {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]*)$/.test(value)) {
    throw new PiecepayError('invalid_relayer_response', `not a decimal amount: ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
