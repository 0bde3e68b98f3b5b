-- The relayer's store (PostgreSQL). Its SQLite twin, migrations/sqlite/0001_relayer.sql, has the same
-- tables, columns and meanings; only the type names differ.
--
-- Encodings, the same in both:
--   ids, hashes, addresses, signature words: raw bytes (BYTEA here, BLOB there);
--   amounts: 39-digit zero-padded decimal TEXT, so that text order is numeric order (any u128 fits);
--   unix times, block numbers, salts, basis points: 64-bit integers.

-- The escrow's channels as the indexer sees them at its confirmation depth.
CREATE TABLE channels (
    channel_id    BYTEA PRIMARY KEY,
    payer         BYTEA NOT NULL,
    payee         BYTEA NOT NULL,
    salt          BIGINT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
    deposit       TEXT NOT NULL,
    settled       TEXT NOT NULL,
    closes_at     BIGINT,
    updated_block BIGINT NOT NULL
);
CREATE INDEX channels_closing ON channels (state, closes_at);

-- A payee's settlement fee cap on the escrow (basis points), as indexed; absent means 0.
CREATE TABLE payees (
    payee       BYTEA PRIMARY KEY,
    fee_cap_bps BIGINT NOT NULL
);

-- The highest receipt held per channel. Only ever raised (WHERE-guarded upserts).
-- pending_since: when the oldest receipt not yet put in a settlement batch arrived (NULL: none).
CREATE TABLE receipts (
    channel_id    BYTEA PRIMARY KEY,
    cumulative    TEXT NOT NULL,
    r             BYTEA NOT NULL,
    vs            BYTEA NOT NULL,
    received_at   BIGINT NOT NULL,
    pending_since BIGINT
);
CREATE INDEX receipts_pending ON receipts (pending_since);

-- Signed gasless operations waiting for, or carried by, a transaction.
CREATE TABLE operations (
    operation_id BYTEA PRIMARY KEY,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    channel_id   BYTEA,
    fee          TEXT NOT NULL,
    deadline     BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'applied', 'failed', 'expired')),
    tx_hash      BYTEA,
    block_number BIGINT,
    reason       BYTEA,
    created_at   BIGINT NOT NULL
);
CREATE INDEX operations_status ON operations (status, created_at);

-- Settlement batches the batcher built, and the channels each carries.
CREATE TABLE settlement_batches (
    batch_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'confirmed', 'failed')),
    tx_hash      BYTEA,
    block_number BIGINT,
    receipts     BIGINT NOT NULL,
    value        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE settlement_entries (
    batch_id   BIGINT NOT NULL REFERENCES settlement_batches (batch_id),
    channel_id BYTEA NOT NULL,
    cumulative TEXT NOT NULL,
    PRIMARY KEY (batch_id, channel_id)
);
CREATE INDEX settlement_entries_channel ON settlement_entries (channel_id, batch_id);

-- Small named values: the indexer's cursor and the like.
CREATE TABLE relayer_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
