"""Models: the miner's generation engine and the validator's one-pass verifier.

Modules (nothing is imported here, so ``inference.types`` stays free of torch):

- ``inference.types``: GenerationRequest, Completion, StreamDelta, Usage, TokenLogprob,
  Verdict, Finding, VerifyItem, VerifyConfig, and the errors InvalidRequest,
  InvalidCompletion, ModelLoadError, ModelOutOfMemory. Defines what "logprob" means
  everywhere here.
- ``inference.loading``: ``load_model(name_or_path, device=, dtype=) -> LoadedModel``.
- ``inference.engine``: ``Engine`` (``await generate(req)``, ``async for d in stream(req)``,
  continuous batching), ``EngineConfig``, ``EngineBusy``, ``EngineClosed``.
- ``inference.openai_backend``: ``OpenAIBackend``, the same interface over a vLLM-style server.
- ``inference.verify``: ``Verifier`` (``verify``, ``verify_completion``, ``verify_many``,
  ``fits``); its rules and reason codes are in ``inference.judge``.
- ``inference.memory``: out of accelerator memory (what torch raises, releasing the cache).
- ``inference.tiny``: ``python -m inference.tiny --out DIR`` builds the small local model.
- ``inference.calibrate``: ``python -m inference.calibrate --model DIR`` measures honest
  margins for VerifyConfig.
"""
