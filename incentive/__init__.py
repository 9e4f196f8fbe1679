"""The math of the subnet: chain-exact Yuma consensus, emission, scoring and simulation (numpy only)."""
