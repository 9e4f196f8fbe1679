"""The subnet's sampler (placeholder constants; the full sampler follows)."""

# Seeds are non-negative and fit a signed 64-bit integer (what JSON parsers, torch and vLLM take).
MAX_SEED = 2**63 - 1
