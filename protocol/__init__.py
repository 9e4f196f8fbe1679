"""The signed wire between validators and miners: Epistula v2 headers over HTTP.

Modules, from the pure core outwards:
- `headers`: header names and the Epistula version.
- `refusals`: `Reason` codes, `Refused` (code, HTTP status, message), `RefusedError`.
- `epistula`: sign and verify (pure: the time is passed in), `SeenRequests` replay cache.
- `streaming`: the framing of signed server-sent event streams.
- `schemas`: OpenAI-compatible bodies with token ids and logprobs.
- `policy`: `CallerDirectory`, `CallerPolicy`, `check_caller`.
- `admission`: bounded concurrency, stake-ordered queue.
- `server`: `create_app(...)`, the FastAPI adapter.
- `client`: `EpistulaAuth` (httpx hook), `EpistulaClient` (call, fan_out, stream).

Importing `protocol` imports nothing heavy; import the module you need.
"""
