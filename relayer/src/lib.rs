//! piecepay's relayer node: verifies receipts, keeps them durably and settles them in batches.
