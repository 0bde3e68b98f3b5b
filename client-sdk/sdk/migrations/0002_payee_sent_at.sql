-- When a receipt was last handed to a relayer or submitted on chain that the chain has not settled yet:
-- the payee sends it again if it stays unsettled too long (SettlePolicy::resend_after).
ALTER TABLE payee_channels ADD COLUMN sent_at INTEGER;
