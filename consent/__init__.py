"""The consent ledger: catalog of purposes and tiers, events, state, receipts, propagation."""
