"""The validator's verifier: one teacher-forced forward pass per completion (or per batch).

    verifier = Verifier.from_pretrained("runs/tiny")       # or Verifier(model, tokenizer)
    verdict = verifier.verify(request, token_ids, logprobs, finish_reason="stop", usage=usage)
    verdicts = verifier.verify_many([VerifyItem.of(request, completion), ...])
    verifier.fits(request)                                 # prompt + max_tokens fit the context

The verifier tokenises the prompt itself from the request (the miner's prompt token ids are
compared, never trusted), runs its own copy of the model once over prompt + completion, and
hands what the model says about every completion token to the rules in inference.judge,
whose docstring lists every check and its reason code. Thresholds are ``VerifyConfig``.

``verify_many`` verifies several completions in forward passes of completions of similar
length (left-padded, keeping only the logits of completion positions), each pass within
``max_batch_tokens``. Malformed input (token ids outside the vocabulary, claimed logprobs of
the wrong length or not finite, an unknown finish reason, more tokens than the context holds,
an invalid request) never reaches the model: ``verify_many`` gives such an item a failed
verdict whose one reason is ``malformed`` with the error message, and verifies the others;
``verify`` and ``verify_completion`` raise InvalidCompletion or InvalidRequest instead.
When the accelerator runs out of memory, the call raises ModelOutOfMemory (no verdicts: the
completions were not at fault) after releasing the memory; later calls work as before. The
verifier is synchronous: run it in a thread from async code, one call at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from inference.judge import Evidence, judge
from inference.kv_batch import left_padded, logits_to_keep_kwarg
from inference.loading import (
    LoadedModel,
    context_length_of,
    eos_token_ids_of,
    load_model,
    pad_token_id_of,
    vocab_size_of,
)
from inference.memory import OutOfMemoryError, first_line, release_memory
from inference.prompts import Limits, prepare
from inference.sampler import (
    SamplerEvidence,
    completion_rows,
    log_probs,
    ranks,
    sampler_evidence,
)
from inference.types import (
    FINISH_REASONS,
    GenerationRequest,
    InvalidCompletion,
    InvalidRequest,
    ModelOutOfMemory,
    TokenLogprob,
    Usage,
    Verdict,
    VerifyConfig,
    VerifyItem,
)


class Verifier:
    """Checks completions against the verifier's own model; see the module docstring.

    ``context_length`` and ``eos_token_ids`` default to what the model's config and tokenizer
    say (as inference.loading reads them).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        config: VerifyConfig | None = None,
        *,
        context_length: int | None = None,
        eos_token_ids: frozenset[int] | None = None,
        device: torch.device | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config or VerifyConfig()
        if eos_token_ids is None:
            eos_token_ids = eos_token_ids_of(model, tokenizer)
        self.eos_token_ids = eos_token_ids
        context_length = context_length or context_length_of(model, tokenizer)
        self.device = device or next(model.parameters()).device
        self.limits = Limits(context_length, context_length)
        self.vocab_size = vocab_size_of(model)
        self._pad = pad_token_id_of(tokenizer, eos_token_ids)
        self._keep_kwarg = logits_to_keep_kwarg(model)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, config: VerifyConfig | None = None) -> Verifier:
        return cls(
            loaded.model,
            loaded.tokenizer,
            config,
            context_length=loaded.context_length,
            eos_token_ids=loaded.eos_token_ids,
            device=loaded.device,
        )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        config: VerifyConfig | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
    ) -> Verifier:
        return cls.from_loaded(load_model(name_or_path, device=device, dtype=dtype), config)

    def fits(self, request: GenerationRequest) -> bool:
        """Whether the request's prompt and its max_tokens fit this verifier's context (and,
        for a chat, whether the model's chat template takes its messages)."""
        try:
            prepare(self.tokenizer, request, self.limits)
        except InvalidRequest:
            return False
        return True

    def verify(
        self,
        request,
        token_ids: Sequence[int],
        logprobs: Sequence[float],
        *,
        finish_reason: str,
        usage: Usage,
        prompt_token_ids: Sequence[int] | None = None,
        top_logprobs: Sequence[Sequence[TokenLogprob]] | None = None,
    ) -> Verdict:
        """One completion's verdict; malformed input raises (InvalidCompletion, InvalidRequest)."""
        item = VerifyItem(
            request, token_ids, logprobs, finish_reason, usage, prompt_token_ids, top_logprobs
        )
        return self._judge([item], self.evidence([item]))[0]

    def verify_completion(self, request, completion) -> Verdict:
        """``verify`` of an engine's Completion; malformed input raises."""
        item = VerifyItem.of(request, completion)
        return self._judge([item], self.evidence([item]))[0]

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        """One verdict per item, in order; a malformed item gets ``Verdict.malformed``."""
        verdicts: list[Verdict | None] = [None] * len(items)
        prompts: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            try:
                prompts[i] = self._check(item)
            except (InvalidCompletion, InvalidRequest) as exc:
                verdicts[i] = Verdict.malformed(str(exc))
        good = list(prompts)
        checked = [items[i] for i in good]
        found = self._evidence_of(checked, [prompts[i] for i in good])
        for i, verdict in zip(good, self._judge(checked, found), strict=True):
            verdicts[i] = verdict
        return verdicts

    def evidence(self, items: Sequence[VerifyItem]) -> list[tuple[list[int], Evidence]]:
        """Per item, the verifier's prompt ids and what its model says about each token.

        What verify judges; inference.calibrate reads it to measure honest margins. Malformed
        input raises before any model work.
        """
        prompts = [self._check(item) for item in items]  # every refusal before any model work
        return self._evidence_of(items, prompts)

    def completion_logprobs(self, items: Sequence[VerifyItem]) -> list[torch.Tensor]:
        """Per item, this model's logprobs [n_tokens, vocab] at each completion position (what
        inference.calibrate compares between precisions). Malformed input raises."""
        prompts = [self._check(item) for item in items]
        found: dict[int, torch.Tensor] = {}
        for chunk in self._chunks(items, prompts):
            logits = self._completion_logits([items[i] for i in chunk], [prompts[i] for i in chunk])
            found.update((i, log_probs(row)) for i, row in zip(chunk, logits, strict=True))
        return [found[i] for i in range(len(items))]

    def _judge(
        self, items: Sequence[VerifyItem], found: list[tuple[list[int], Evidence]]
    ) -> list[Verdict]:
        return [
            judge(item, prompt_ids, evidence, self.config, self.eos_token_ids, self._decode)
            for item, (prompt_ids, evidence) in zip(items, found, strict=True)
        ]

    def _evidence_of(
        self, items: Sequence[VerifyItem], prompts: list[list[int]]
    ) -> list[tuple[list[int], Evidence]]:
        """Evidence of checked items, in their order; ModelOutOfMemory if a pass runs out."""
        found: dict[int, Evidence] = {}
        try:
            for chunk in self._chunks(items, prompts):
                found.update(self._chunk_evidence(items, prompts, chunk))
        except OutOfMemoryError as exc:
            detail = first_line(exc)
        else:
            return [(prompts[i], found[i]) for i in range(len(items))]
        # Out of the except block: the traceback and the pass's tensors are gone.
        release_memory(self.device)
        raise ModelOutOfMemory(
            f"out of {self.device.type} memory verifying {len(items)} completions "
            f"({detail}): verify fewer completions at once (a smaller batch, or a lower "
            "VerifyConfig.max_batch_tokens) or load the model in a smaller dtype",
            len(items),
        )

    def _chunk_evidence(
        self, items: Sequence[VerifyItem], prompts: list[list[int]], chunk: list[int]
    ) -> dict[int, Evidence]:
        logits = self._completion_logits([items[i] for i in chunk], [prompts[i] for i in chunk])
        # The sampler is re-derived for every position of the pass at once.
        rows = [
            row
            for i in chunk
            for row in completion_rows(
                items[i].request.temperature,
                items[i].request.top_p,
                items[i].request.seed,
                len(items[i].token_ids),
            )
        ]
        tokens = torch.tensor(
            [t for i in chunk for t in items[i].token_ids], device=logits[0].device
        )
        sampler = sampler_evidence(torch.cat(logits), tokens, rows, self.config.nucleus_slack)
        found, start = {}, 0
        for i, item_logits in zip(chunk, logits, strict=True):
            end = start + len(item_logits)
            found[i] = self._evidence(items[i], item_logits, tokens[start:end], sampler, start)
            start = end
        return found

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _check(self, item: VerifyItem) -> list[int]:
        prompt_ids = prepare(self.tokenizer, item.request, self.limits)
        if not item.request.greedy and item.request.seed is None:
            raise InvalidCompletion(
                "a sampled completion is verified against the seed it was sampled with: the "
                "request must carry its seed"
            )
        tokens, claimed = list(item.token_ids), list(item.logprobs)
        if not tokens:
            raise InvalidCompletion("the completion has no tokens")
        if any(isinstance(t, bool) or not isinstance(t, int) for t in tokens):
            raise InvalidCompletion("completion token ids must be integers")
        bad = next((t for t in tokens if not 0 <= t < self.vocab_size), None)
        if bad is not None:
            raise InvalidCompletion(
                f"token id {bad} is outside the vocabulary (0..{self.vocab_size - 1})"
            )
        if len(claimed) != len(tokens):
            raise InvalidCompletion(
                f"{len(claimed)} claimed logprobs for {len(tokens)} tokens: give one per token"
            )
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in claimed):
            raise InvalidCompletion("claimed logprobs must be finite numbers")
        if item.finish_reason not in FINISH_REASONS:
            raise InvalidCompletion(
                f"finish_reason {item.finish_reason!r} is not one of {', '.join(FINISH_REASONS)}"
            )
        if len(prompt_ids) + len(tokens) > self.limits.context_length:
            raise InvalidCompletion(
                f"prompt ({len(prompt_ids)}) + completion ({len(tokens)}) tokens exceed the "
                f"model's context of {self.limits.context_length}"
            )
        if item.top_logprobs is not None:
            self._check_alternatives(item.top_logprobs, len(tokens))
        return prompt_ids

    def _check_alternatives(self, top: Sequence[Sequence[TokenLogprob]], n_tokens: int) -> None:
        if len(top) != n_tokens:
            raise InvalidCompletion(
                f"{len(top)} top_logprobs entries for {n_tokens} tokens: give one per token"
            )
        for entry in top:
            for token_id, logprob in entry:
                if not 0 <= token_id < self.vocab_size or not math.isfinite(logprob):
                    raise InvalidCompletion(
                        f"top_logprobs has an invalid entry ({token_id}, {logprob})"
                    )

    def _chunks(self, items: Sequence[VerifyItem], prompts: list[list[int]]) -> list[list[int]]:
        """Indices of items per forward pass, each pass within max_batch_tokens (padded).

        Items are sorted by length and cut into runs so that the padded tokens of all passes
        plus ``pass_overhead_tokens`` per pass are least (a pass costs about its rows times
        its widest row): completions of very different lengths do not pad each other.
        """
        lengths = [len(prompts[i]) + len(item.token_ids) - 1 for i, item in enumerate(items)]
        order = sorted(range(len(items)), key=lengths.__getitem__)
        return [
            [order[k] for k in run]
            for run in least_cost_runs(
                [lengths[i] for i in order],
                self.config.pass_overhead_tokens,
                self.config.max_batch_tokens,
            )
        ]

    @torch.inference_mode()
    def _completion_logits(
        self, items: list[VerifyItem], prompts: list[list[int]]
    ) -> list[torch.Tensor]:
        """Per item, logits [n_tokens, vocab] predicting each of its completion tokens."""
        # The last completion token is never an input: nothing is predicted after it.
        rows = [p + list(item.token_ids)[:-1] for item, p in zip(items, prompts, strict=True)]
        ids, mask, positions = left_padded(rows, self._pad, self.device)
        keep = max(len(item.token_ids) for item in items)
        kwargs = {self._keep_kwarg: keep} if self._keep_kwarg else {}
        logits = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, **kwargs
        ).logits
        return [logits[r, logits.shape[1] - len(item.token_ids) :] for r, item in enumerate(items)]

    def _evidence(
        self,
        item: VerifyItem,
        logits: torch.Tensor,
        tokens: torch.Tensor,
        sampler: SamplerEvidence,
        start: int,
    ) -> Evidence:
        lp = log_probs(logits)
        end = start + len(tokens)
        alternatives = None
        if item.top_logprobs is not None:
            alternatives = [
                [float(lp[i, token_id]) for token_id, _ in entry]
                for i, entry in enumerate(item.top_logprobs)
            ]
        return Evidence(
            logprobs=lp.gather(-1, tokens[:, None]).squeeze(-1).tolist(),
            ranks=ranks(lp, tokens).tolist(),
            choice_ids=sampler.choice[start:end],
            gaps=sampler.gap[start:end],
            possible=sampler.possible[start:end],
            alternative_logprobs=alternatives,
        )


def least_cost_runs(widths: Sequence[int], overhead: int, max_tokens: int) -> list[range]:
    """Cut ascending ``widths`` into consecutive runs, least sum of (overhead + rows * last).

    Each run holds at most ``max_tokens`` (rows times its widest), or a single row. Dynamic
    programming over where the last run starts: O(n * rows per run).
    """
    n = len(widths)
    best = [0] + [math.inf] * n  # best[j]: least cost of the first j widths
    start = [0] * (n + 1)
    for end in range(1, n + 1):
        width = widths[end - 1]
        for first in range(end - 1, -1, -1):
            rows = end - first
            if rows > 1 and rows * width > max_tokens:
                break
            cost = best[first] + overhead + rows * width
            if cost < best[end]:
                best[end], start[end] = cost, first
    runs: list[range] = []
    end = n
    while end > 0:
        runs.append(range(start[end], end))
        end = start[end]
    return runs[::-1]
