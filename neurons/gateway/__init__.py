"""The OpenAI-compatible gateway: the subnet's verified inference for paying users.

A validator started with `--gateway.port N` (or `subnet gateway`) serves OpenAI's API on that
port from its own metagraph, scores, signing key and verifier. The modules:

- store.py: API keys (hashed), usage per key and speed per miner, in SQLite;
- limits.py: requests and tokens per minute per key;
- routing.py: which miner answers (verified score and measured speed), circuit breaker;
- forward.py: the signed call to a miner, retried elsewhere on failure;
- service.py: one request from key to answer, and organic verification;
- responses.py, errors.py: OpenAI's response and error shapes;
- organic.py: organic prompts reused as synthetic tasks;
- metrics.py: Prometheus metrics and the minute log line;
- app.py: the FastAPI app and its server;
- cli.py: `subnet gateway`, `subnet gateway keys create|list|revoke`, `subnet gateway usage`.
"""
