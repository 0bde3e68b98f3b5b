-- piecepay SDK store, schema 1: what a payee must never lose and a payer must never sign below.
--
-- Encodings (the Rust side, src/store/sqlite.rs, is the only writer):
-- * amounts are u128 as 39-digit zero-padded decimal TEXT. Fixed width makes SQLite's BINARY comparison
--   (memcmp) numeric, so `>` and `max()` work in SQL and no amount ever passes through an i64; receipts,
--   deposits and settlements stay within the escrow's uint96 (2^96 - 1 has 29 digits).
-- * addresses (20 bytes), channel ids (32) and EIP-2098 signatures (64, r || vs) are fixed-length BLOBs;
-- * times are unix seconds (INTEGER).
-- A channel is keyed by its escrow's EIP-712 domain (chain id, escrow address) and its id
-- keccak256(payer, payee, salt), which is the same on every chain.

-- Payee: the highest receipt of each channel. Written by a single monotonic upsert (only ever raised), on
-- the acknowledged-receipt path. Self-sufficient for settlement: the escrow takes (payee, salt, cumulative,
-- signature) and recovers the payer, so a receipt is kept even if its channel row was never saved.
CREATE TABLE payee_receipts (
    chain_id   INTEGER NOT NULL,
    escrow     BLOB    NOT NULL CHECK (length(escrow) = 20),
    channel_id BLOB    NOT NULL CHECK (length(channel_id) = 32),
    payee      BLOB    NOT NULL CHECK (length(payee) = 20),
    salt       INTEGER NOT NULL CHECK (salt BETWEEN 0 AND 4294967295),
    cumulative TEXT    NOT NULL CHECK (length(cumulative) = 39 AND cumulative NOT GLOB '*[^0-9]*'),
    signature  BLOB    NOT NULL CHECK (length(signature) = 64),
    -- When the current receipt was stored (unix seconds, SQLite's clock).
    stored_at  INTEGER NOT NULL,
    PRIMARY KEY (chain_id, escrow, channel_id)
) WITHOUT ROWID;

-- Payee: the rest of a PayeeChannel (terms and state), snapshotted after each transition. settled, handed
-- and submitted only ever rise (settlement progress); the receipt lives in payee_receipts.
CREATE TABLE payee_channels (
    chain_id         INTEGER NOT NULL,
    escrow           BLOB    NOT NULL CHECK (length(escrow) = 20),
    channel_id       BLOB    NOT NULL CHECK (length(channel_id) = 32),
    payer            BLOB    NOT NULL CHECK (length(payer) = 20),
    payee            BLOB    NOT NULL CHECK (length(payee) = 20),
    salt             INTEGER NOT NULL CHECK (salt BETWEEN 0 AND 4294967295),
    price            TEXT    NOT NULL CHECK (length(price) = 39 AND price NOT GLOB '*[^0-9]*'),
    credit_kind      TEXT    NOT NULL CHECK (credit_kind IN ('pieces', 'amount')),
    credit           TEXT    NOT NULL CHECK (length(credit) = 39 AND credit NOT GLOB '*[^0-9]*'),
    phase            TEXT    NOT NULL CHECK (phase IN ('proposed', 'open', 'closing', 'closed')),
    deposit          TEXT    NOT NULL CHECK (length(deposit) = 39 AND deposit NOT GLOB '*[^0-9]*'),
    served           TEXT    NOT NULL CHECK (length(served) = 39 AND served NOT GLOB '*[^0-9]*'),
    pieces_served    INTEGER NOT NULL CHECK (pieces_served >= 0),
    settled          TEXT    NOT NULL CHECK (length(settled) = 39 AND settled NOT GLOB '*[^0-9]*'),
    handed           TEXT    NOT NULL CHECK (length(handed) = 39 AND handed NOT GLOB '*[^0-9]*'),
    submitted        TEXT    NOT NULL CHECK (length(submitted) = 39 AND submitted NOT GLOB '*[^0-9]*'),
    pending_since    INTEGER,
    -- Closing only: 'challenge' (close_at = closes_at), 'cooperative' (close_at = deadline,
    -- close_cumulative = the agreed total) or 'by_payee'.
    close_kind       TEXT    CHECK (close_kind IN ('challenge', 'cooperative', 'by_payee')),
    close_at         INTEGER,
    close_cumulative TEXT    CHECK (close_cumulative IS NULL OR (length(close_cumulative) = 39 AND close_cumulative NOT GLOB '*[^0-9]*')),
    updated_at       INTEGER NOT NULL,
    CHECK ((phase = 'closing') = (close_kind IS NOT NULL)),
    PRIMARY KEY (chain_id, escrow, channel_id)
) WITHOUT ROWID;

-- Payer: a PayerChannel (terms and state) and the highest receipt it signed. cumulative/signature are
-- raised by reserve_signature before a receipt leaves the process and are never lowered: a snapshot below
-- them is refused.
CREATE TABLE payer_channels (
    chain_id        INTEGER NOT NULL,
    escrow          BLOB    NOT NULL CHECK (length(escrow) = 20),
    channel_id      BLOB    NOT NULL CHECK (length(channel_id) = 32),
    payer           BLOB    NOT NULL CHECK (length(payer) = 20),
    payee           BLOB    NOT NULL CHECK (length(payee) = 20),
    salt            INTEGER NOT NULL CHECK (salt BETWEEN 0 AND 4294967295),
    price           TEXT    NOT NULL CHECK (length(price) = 39 AND price NOT GLOB '*[^0-9]*'),
    credit_kind     TEXT    NOT NULL CHECK (credit_kind IN ('pieces', 'amount')),
    credit          TEXT    NOT NULL CHECK (length(credit) = 39 AND credit NOT GLOB '*[^0-9]*'),
    phase           TEXT    NOT NULL CHECK (phase IN ('proposed', 'opening', 'open', 'closing', 'closed')),
    -- Opening: the deposit asked for; open, closing, closed: the deposit on chain.
    deposit         TEXT    NOT NULL CHECK (length(deposit) = 39 AND deposit NOT GLOB '*[^0-9]*'),
    open_deadline   INTEGER,
    top_up_deposit  TEXT    CHECK (top_up_deposit IS NULL OR (length(top_up_deposit) = 39 AND top_up_deposit NOT GLOB '*[^0-9]*')),
    top_up_deadline INTEGER,
    -- Closing only: 'cooperative' or 'requested' (close_at = deadline), 'challenge' (close_at = closes_at).
    close_kind      TEXT    CHECK (close_kind IN ('cooperative', 'requested', 'challenge')),
    close_at        INTEGER,
    settled         TEXT    NOT NULL CHECK (length(settled) = 39 AND settled NOT GLOB '*[^0-9]*'),
    -- The highest cumulative signed ('000000000000000000000000000000000000000': none yet) and its signature.
    cumulative      TEXT    NOT NULL CHECK (length(cumulative) = 39 AND cumulative NOT GLOB '*[^0-9]*'),
    signature       BLOB    CHECK (signature IS NULL OR length(signature) = 64),
    updated_at      INTEGER NOT NULL,
    CHECK ((signature IS NULL) = (cumulative = '000000000000000000000000000000000000000')),
    CHECK ((phase = 'closing') = (close_kind IS NOT NULL)),
    CHECK ((top_up_deposit IS NULL) = (top_up_deadline IS NULL)),
    PRIMARY KEY (chain_id, escrow, channel_id)
) WITHOUT ROWID;
