"""The signed wire between validators and miners: Epistula v2 headers over HTTP.

Modules, from the pure core outwards (importing `protocol` itself imports nothing heavy):
- `headers`: header names and the Epistula version.
- `refusals`: `Reason` codes, `Refused` (code, HTTP status, message), `RefusedError`.
- `epistula`: sign and verify, pure (the time is passed in); `SeenRequests`, the replay cache.
- `streaming`: the framing of signed server-sent event streams (a signature trailer).
- `schemas`: OpenAI-compatible bodies extended with token ids and per-token logprobs.
- `policy`: `CallerDirectory` (the metagraph view), `CallerPolicy`, `check_caller`.
- `admission`: bounded concurrency, a bounded queue ordered by caller stake.
- `clock`: the one wall-clock read.
- `server`: `create_app(...)`, the FastAPI adapter.
- `transport`: `EpistulaAuth` (the httpx hook), `NoCookiesClient`, `run_within`.
- `outcomes`: `Target`, `Reply`, `StreamReply`, `Failure`, `FailureReason`.
- `client`: `EpistulaClient` (call, fan_out, stream).
"""
