-- The chain side (PostgreSQL): the indexer's events and remembered block hashes, the submitter's
-- journal, and the links from settlement batches and operations to its jobs. Twin: sqlite/0002_chain.sql.

-- Every escrow event the indexer applied, in chain order. Kept so that a reorg can be undone exactly:
-- the events above the common ancestor are deleted and the channels they touched are recomputed from
-- their remaining events. An event touching several channels (ReceiptsSettled) has one row per channel
-- (sub_index), whose body is its effect on that channel (ChannelEffect, JSON); other events have one row
-- with the decoded event (JSON). channel_id / account: what the row concerns, for lookups.
CREATE TABLE chain_events (
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    sub_index    BIGINT NOT NULL,
    block_hash   BYTEA NOT NULL,
    tx_hash      BYTEA NOT NULL,
    kind         TEXT NOT NULL,
    channel_id   BYTEA,
    account      BYTEA,
    body         TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index, sub_index)
);
CREATE INDEX chain_events_channel ON chain_events (channel_id, block_number, log_index);
CREATE INDEX chain_events_account ON chain_events (account, kind, block_number);
CREATE INDEX chain_events_tx ON chain_events (tx_hash);

-- Block hashes the indexer remembers to detect reorgs (the cursor's among them).
CREATE TABLE indexer_blocks (
    number BIGINT PRIMARY KEY,
    hash   BYTEA NOT NULL
);

-- The submitter's journal: one row per job (a settlement batch, an operations batch). state: the
-- TxState name; body: the TxState as JSON (intent, attempts, inclusion). kind: settle, operations or
-- other (a job enqueued through the trait, with no node-side record).
CREATE TABLE tx_journal (
    tx_id      BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('settle', 'operations', 'other')),
    calldata   BYTEA NOT NULL,
    state      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tx_journal_state ON tx_journal (state, tx_id);

-- Every signed attempt's hash, stored before it is broadcast: which job a mined transaction belongs to.
CREATE TABLE tx_attempts (
    tx_hash BYTEA PRIMARY KEY,
    tx_id   BIGINT NOT NULL
);

-- Batches of gasless operations; job id = 2^40 + batch_id (settlement batches use their own ids).
CREATE TABLE operation_batches (
    batch_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which job carries an operation, at which index of its batch (AuthorizationSkipped names the index).
ALTER TABLE operations ADD COLUMN job_id BIGINT;
ALTER TABLE operations ADD COLUMN entry_index BIGINT;
CREATE INDEX operations_job ON operations (job_id, entry_index);
