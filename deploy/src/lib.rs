//! Deploys piecepay's token and escrow to an EVM JSON-RPC endpoint and writes a per-chain manifest.
