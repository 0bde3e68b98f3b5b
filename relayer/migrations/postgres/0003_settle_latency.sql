-- Time to settle (PostgreSQL). Twin: sqlite/0003_settle_latency.sql.
-- pending_since: when the value a batch entry settles started waiting (the receipt's pending_since when
-- it was batched), so that the node can measure, once the batch is confirmed, how long value waited
-- between acknowledgement and settlement (piecepay_settle_latency_seconds). NULL for entries batched
-- before this migration.
ALTER TABLE settlement_entries ADD COLUMN pending_since BIGINT;
