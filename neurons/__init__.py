"""The processes users run: a miner and a validator, with their config, lifecycle and state."""
