"""The chain as neurons see it: the Chain API, the embedded dev chain, and the real networks."""
