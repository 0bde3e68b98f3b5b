/**
 * The one error type of this package: every failure carries a stable, machine-readable `code`
 * (docs/wire-protocol.md §6, docs/relayer-api.md "Errors"), which is what goes back to a peer in an
 * `error` message; the message text is for humans and may change.
 */
export class PiecepayError extends Error {
  /**
   * @param {string} code stable snake_case code
   * @param {string} message human-readable detail
   * @param {{ regarding?: string, cause?: unknown, status?: number }} [options]
   *   `regarding`: the `t` of the wire message refused; `status`: an HTTP status (relayer errors)
   */
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PiecepayError';
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} */
    this.regarding = options.regarding;
    /** @type {number | undefined} */
    this.status = options.status;
  }
}

/**
 * @param {unknown} error
 * @returns {error is PiecepayError}
 */
export function isPiecepayError(error) {
  return error instanceof PiecepayError;
}
