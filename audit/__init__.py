"""The append-only audit trail: hash chain, Merkle tree, signed checkpoints, proofs."""
