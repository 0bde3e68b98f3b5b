-- piecepay agent, schema 1: what each channel's payments were for. The channels and receipts themselves
-- are the SDK store's tables (payer_channels, payee_receipts, payee_channels) in the same file; these
-- migrations are recorded in their own table (_piecepay_agent_migrations).
--
-- Amounts are the SDK's encoding: u128 as 39-digit zero-padded decimal TEXT (piecepay_protocol::column).

-- Per channel and torrent: the payer's pieces paid and their value (written in the same transaction as the
-- receipt's reservation, so it never disagrees with what was signed), or the payee's pieces served and
-- their value (snapshotted about once a second: a crash under-counts by at most the last second).
CREATE TABLE agent_ledger (
    chain_id   INTEGER NOT NULL,
    escrow     BLOB    NOT NULL CHECK (length(escrow) = 20),
    role       TEXT    NOT NULL CHECK (role IN ('payer', 'payee')),
    channel_id BLOB    NOT NULL CHECK (length(channel_id) = 32),
    info_hash  BLOB    NOT NULL CHECK (length(info_hash) = 20),
    pieces     INTEGER NOT NULL CHECK (pieces >= 0),
    amount     TEXT    NOT NULL CHECK (length(amount) = 39 AND amount NOT GLOB '*[^0-9]*'),
    PRIMARY KEY (chain_id, escrow, role, channel_id, info_hash)
) WITHOUT ROWID;
