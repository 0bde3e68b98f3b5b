-- The relayer's store (SQLite). Its PostgreSQL twin, migrations/postgres/0001_relayer.sql, has the same
-- tables, columns and meanings; only the type names differ.
--
-- Encodings, the same in both:
--   ids, hashes, addresses, signature words: raw bytes (BLOB here, BYTEA there);
--   amounts: 39-digit zero-padded decimal TEXT, so that text order is numeric order (any u128 fits);
--   unix times, block numbers, salts, basis points: 64-bit integers.

-- Tables keyed by a random 32-byte id are WITHOUT ROWID (SQLite only): one b-tree per table instead of a
-- rowid table plus a unique index, which halves the page writes of an ingest commit.

-- The escrow's channels as the indexer sees them at its confirmation depth.
CREATE TABLE channels (
    channel_id    BLOB PRIMARY KEY,
    payer         BLOB NOT NULL,
    payee         BLOB NOT NULL,
    salt          INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
    deposit       TEXT NOT NULL,
    settled       TEXT NOT NULL,
    closes_at     INTEGER,
    updated_block INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX channels_closing ON channels (state, closes_at);

-- A payee's settlement fee cap on the escrow (basis points), as indexed; absent means 0.
CREATE TABLE payees (
    payee       BLOB PRIMARY KEY,
    fee_cap_bps INTEGER NOT NULL
) WITHOUT ROWID;

-- The highest receipt held per channel. Only ever raised (WHERE-guarded upserts).
-- pending_since: when the oldest receipt not yet put in a settlement batch arrived (NULL: none).
CREATE TABLE receipts (
    channel_id    BLOB PRIMARY KEY,
    cumulative    TEXT NOT NULL,
    r             BLOB NOT NULL,
    vs            BLOB NOT NULL,
    received_at   INTEGER NOT NULL,
    pending_since INTEGER
) WITHOUT ROWID;
CREATE INDEX receipts_pending ON receipts (pending_since);

-- Signed gasless operations waiting for, or carried by, a transaction.
CREATE TABLE operations (
    operation_id BLOB PRIMARY KEY,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    channel_id   BLOB,
    fee          TEXT NOT NULL,
    deadline     INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'applied', 'failed', 'expired')),
    tx_hash      BLOB,
    block_number INTEGER,
    reason       BLOB,
    created_at   INTEGER NOT NULL
);
CREATE INDEX operations_status ON operations (status, created_at);

-- Settlement batches the batcher built, and the channels each carries.
CREATE TABLE settlement_batches (
    batch_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'confirmed', 'failed')),
    tx_hash      BLOB,
    block_number INTEGER,
    receipts     INTEGER NOT NULL,
    value        TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE settlement_entries (
    batch_id   INTEGER NOT NULL REFERENCES settlement_batches (batch_id),
    channel_id BLOB NOT NULL,
    cumulative TEXT NOT NULL,
    PRIMARY KEY (batch_id, channel_id)
);
CREATE INDEX settlement_entries_channel ON settlement_entries (channel_id, batch_id);

-- Small named values: the indexer's cursor and the like.
CREATE TABLE relayer_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
