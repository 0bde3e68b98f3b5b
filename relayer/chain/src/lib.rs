//! The relayer's chain side: event indexer with reorg handling and a transaction submitter (nonces, EIP-1559 escalation, journal).
