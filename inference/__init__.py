"""Models: the miner's generation engine and the validator's one-pass verifier."""
