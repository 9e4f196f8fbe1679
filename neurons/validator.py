"""The validator: query miners with synthetic tasks, verify, score, set weights, keep state.

    python neurons/validator.py --netuid 1 --wallet.name validator --wallet.hotkey default \\
        --model models/tiny
    subnet validator --help

Each round (every `--validator.round_interval` seconds): pick the serving miners (all, or a
rotating window of `--validator.sample_size`), give each `--validator.tasks_per_miner` tasks
of its own drawn from a seed the miners cannot predict, query them concurrently under
`--validator.timeout`, verify every answer with the validator's own copy of the model as
answers arrive (in batches of up to `--validator.verify_batch`, on one verifier thread:
neurons/verifying.py). A miner's round verifies only if all its answers do
(neurons/checking.py `per_miner`); outcomes become rewards (neurons/rewards.py) folded into a
per-hotkey moving average (incentive/), and a signed answer that fails verification resets
that miner's score (`--validator.reset_on_failure`). Answers the validator could not verify
for its own fault (out of GPU memory) are left out of the round's scores, with one warning
saying what to change.

Weights are due every `--validator.weights_every` blocks (never faster than the subnet's rate
limit), checked after every round and at every metagraph sync, so they keep to the block
schedule while a long round is in flight; a refused attempt is logged with the chain's error
and retried at the next check, and the scores stay. The state is saved atomically after every
round, after weights are set and on shutdown, and loaded at start before anything is saved.

With `--gateway.port` the validator also serves the OpenAI-compatible gateway for paying users
(neurons/gateway/, `subnet gateway`): it routes organic requests to miners by this validator's
scores, signs them with its hotkey, verifies a share with its verifier, and a proven-wrong
organic answer is folded into the scores like a failed round (`fold_organic`).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as `python neurons/validator.py`: import the project, not this folder
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
from loguru import logger

from chain import Chain, ChainError, Hyperparameters, Metagraph
from incentive.scoring import MovingAverageScores
from incentive.weights import conform_weights
from neurons import checking, rounds, verifying
from neurons.base import (
    EXIT_USAGE,
    Neuron,
    StartupError,
    connect_registered,
    loading_model,
    require_model,
    run_neuron,
    setup_logging,
    subnet_command,
)
from neurons.config import VALIDATOR, Config, ConfigError, load_config
from neurons.gateway.app import GatewayPortInUse, GatewayServer, open_gateway
from neurons.gateway.store import StoreError
from neurons.metrics import ValidatorMetrics
from neurons.near_ties import NearTieWindow, near_tie_detail
from neurons.rewards import Outcome, round_rewards
from neurons.standing import permit_problem, standing_problems
from neurons.state import (
    StateError,
    ValidatorState,
    describe_damage,
    load_state,
    move_aside,
    save_state,
)
from neurons.tasks import SYNTHETIC, TaskSource, new_secret, round_seed
from neurons.verifying import VERIFY_MEMORY_ADVICE, RoundReport
from protocol.client import EpistulaClient


def load_checker(config: Config) -> checking.VerifierChecker:
    from inference.verify import Verifier

    with loading_model(config) as placement:
        verifier = Verifier.from_pretrained(config.model.name, **placement)
    return checking.VerifierChecker(verifier)


class Validator(Neuron):
    role = VALIDATOR
    metrics_class = ValidatorMetrics
    metrics: ValidatorMetrics

    def __init__(
        self,
        config: Config,
        chain: Chain,
        wallet,
        checker: checking.Checker,
        metrics: ValidatorMetrics | None = None,
        client: EpistulaClient | None = None,
    ) -> None:
        super().__init__(config, chain, wallet, metrics)
        self.checker = checker
        self.client = client or EpistulaClient(wallet.hotkey)
        self.log = logger.bind(neuron=f"validator {self.hotkey[:8]}")
        self.state_path = config.state_path()
        self.state: ValidatorState | None = None
        self.scores = MovingAverageScores(0, config.validator.alpha)
        self.near_ties = NearTieWindow(
            config.validator.near_tie_window, config.validator.near_tie_share
        )
        self.hyperparameters: Hyperparameters | None = None
        self.permit: bool | None = None  # as of the last sync
        self.model_name = config.model.wire_name
        # Where round prompts come from (neurons/tasks.py); a gateway mixes organic ones in.
        self.task_source: TaskSource = SYNTHETIC
        # One thread: the verifier's model work never blocks the loop, nor runs twice at once.
        self.verifier_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verifier")
        # Hotkeys whose latest judged answer (synthetic or organic) failed verification: the
        # gateway routes no organic request to them until they verify again.
        self.failed_verification: set[str] = set()
        self.gateway: GatewayServer | None = None

    # -- state ----------------------------------------------------------------------------

    def load(self) -> None:
        """Restore scores and counters from the state file (before anything is saved)."""
        try:
            state = load_state(self.state_path, netuid=self.netuid, hotkey=self.hotkey)
        except StateError as exc:
            raise StartupError(str(exc)) from exc
        secret = self.config.validator.task_secret
        scores = None
        if state is not None and (state.scores or state.near_ties):
            try:
                scores = MovingAverageScores.from_dict(state.scores) if state.scores else None
                self.near_ties = NearTieWindow.from_dict(
                    state.near_ties, self.near_ties.window, self.near_ties.ceiling
                )
            except Exception as exc:  # any damage at all: the file goes aside, never the start
                aside = move_aside(self.state_path)
                self.log.warning(
                    "validator state {} has damaged scores ({}); moved it to {}, starting fresh",
                    self.state_path,
                    describe_damage(exc),
                    aside,
                )
                state = None
        if state is None:
            self.state = ValidatorState(self.netuid, self.hotkey, secret or new_secret())
            self.log.info("no saved state at {}: starting with empty scores", self.state_path)
            return
        if scores is not None:
            scores.alpha = self.config.validator.alpha
            self.scores = scores
        self.state = replace(state, task_secret=secret or state.task_secret)
        self.log.info(
            "restored state from {}: round {}, last weights at block {}, {} scored uids",
            self.state_path,
            state.round,
            state.last_weight_block,
            int(np.count_nonzero(self.scores.scores)),
        )

    def save(self) -> None:
        if self.state is None:
            return  # never write before the saved state was read
        self.state = replace(
            self.state, scores=self.scores.to_dict(), near_ties=self.near_ties.to_dict()
        )
        save_state(self.state_path, self.state)

    # -- chain ----------------------------------------------------------------------------

    async def on_metagraph(self, metagraph: Metagraph) -> None:
        """Follow the metagraph, and set weights when due: weights keep to the block schedule
        even while a long round is in flight."""
        self.scores.sync_hotkeys(list(metagraph.hotkeys))
        self.near_ties.keep_only(metagraph.hotkeys)
        self.hyperparameters = await self.chain.hyperparameters(self.netuid)
        self._follow_permit(metagraph)
        if self.state is not None and await self.maybe_set_weights(metagraph.block):
            self.save()

    # -- standing: will miners answer? ----------------------------------------------------

    def stake_hint(self) -> str:
        netuid = str(self.netuid)
        return subnet_command(self.config, "stake", "add", "--netuid", netuid, "--amount", "TAO")

    def _follow_permit(self, metagraph: Metagraph) -> None:
        """One line when the permit comes or goes (miners refuse validators without one)."""
        assert self.uid is not None and self.hyperparameters is not None
        permit = bool(metagraph.validator_permit[self.uid])
        if self.permit is not None and permit != self.permit:
            if permit:
                self.log.info("validator permit held from block {}: miners answer", metagraph.block)
            else:
                max_validators = self.hyperparameters.max_validators
                self.log.warning(
                    "{}", permit_problem(metagraph, self.uid, max_validators, self.stake_hint())
                )
        self.permit = permit

    def log_standing(self) -> None:
        """At start: every reason miners would refuse this validator, and what to do."""
        assert self.metagraph is not None and self.uid is not None
        assert self.hyperparameters is not None
        problems = standing_problems(
            self.metagraph,
            self.uid,
            self.hyperparameters.max_validators,
            self.config.validator.miner_min_stake,
            self.stake_hint(),
        )
        for problem in problems:
            self.log.warning("{}", problem)

    async def maybe_set_weights(self, block: int) -> bool:
        """Set weights when due; a refusal is logged and retried next time, scores untouched."""
        assert self.state is not None and self.metagraph is not None and self.uid is not None
        params = self.hyperparameters or await self.chain.hyperparameters(self.netuid)
        due = rounds.weights_due(
            block,
            self.state.last_weight_block,
            int(self.metagraph.last_update[self.uid]),
            self.config.validator.weights_every,
            params.weights_rate_limit,
        )
        if not due:
            return False
        if not np.any(self.scores.scores > 0):
            self.log.debug("weights due at block {} but no miner has a score yet", block)
            return False
        try:
            uids, weights = conform_weights(
                self.scores.scores,
                n=self.scores.n,
                max_weight_limit_u16=params.max_weights_limit,
                min_allowed_weights=params.min_allowed_weights,
            )
            receipt = await self.chain.set_weights(
                self.wallet,
                self.netuid,
                uids.tolist(),
                weights.tolist(),
                version_key=params.weights_version,
            )
        except ChainError as exc:
            self.metrics.weight_sets.labels(result=exc.code).inc()
            self.log.warning("set_weights refused at block {}: {}; retrying next round", block, exc)
            return False
        except ValueError as exc:  # the subnet's limits cannot be met with these scores
            self.metrics.weight_sets.labels(result="unconformable").inc()
            self.log.warning("cannot conform weights to the subnet's limits: {}", exc)
            return False
        self.state = replace(self.state, last_weight_block=receipt.block)
        self.metrics.weight_sets.labels(result="ok").inc()
        how = f"committed for reveal round {receipt.reveal_round}" if receipt.committed else "set"
        self.log.info("weights {} at block {} on {} uids", how, receipt.block, len(uids))
        return True

    # -- rounds ---------------------------------------------------------------------------

    async def run_round(self) -> RoundReport:
        """Query, verify, reward and score one sample of miners; then count the round."""
        assert self.state is not None and self.metagraph is not None
        started = time.perf_counter()
        metagraph = self.metagraph
        block = await self.chain.block()
        round_index = self.state.round
        uids = rounds.rotating_sample(
            rounds.serving_uids(metagraph, self.uid),
            self.config.validator.sample_size,
            round_index,
        )
        per_miner = self.config.validator.tasks_per_miner
        targets = [uid for uid in uids for _ in range(per_miner)]
        seed = round_seed(self.state.task_secret, round_index, block)
        tasks = checking.fitting_tasks(
            seed,
            len(targets),
            self.config.validator.max_tokens,
            self.model_name,
            self.checker.fits,
            self.task_source,
        )
        queries = checking.build_queries(metagraph, targets, tasks)
        answers = await verifying.query_and_verify(
            self.client,
            queries,
            self.config.validator.timeout,
            self.checker,
            batch_size=self.config.validator.verify_batch,
            executor=self.verifier_thread,
        )
        results = [self._watch_near_ties(r) for r in checking.per_miner(answers.results)]
        scored = [r for r in results if not r.left_out]
        rewards = round_rewards(
            {r.uid: r.outcome for r in scored},
            self.config.validator.reference_tps,
            self.config.validator.speed_weight,
        )
        self._fold(scored, rewards)
        self.state = replace(self.state, round=round_index + 1)
        report = RoundReport(
            round_index,
            block,
            tuple(results),
            answers.results,
            rewards,
            time.perf_counter() - started,
            answers.query_seconds,
            answers.verify_seconds,
            answers.after_answers_seconds,
            answers.batches,
        )
        self._count(report)
        for r in results:
            self.log.debug(
                "uid {}: {} ({} tokens, {})",
                r.uid,
                r.detail,
                r.outcome.completion_tokens,
                f"reward {rewards[r.uid]:.3f}" if r.uid in rewards else "not scored",
            )
        if answers.out_of_memory:
            left_out = sum(r.left_out for r in answers.results)
            self.log.warning(
                "{} answers left out of this round's scores, their miners not blamed: {}; {}",
                left_out,
                answers.out_of_memory,
                VERIFY_MEMORY_ADVICE,
            )
        self.log.info("{}", report.summary())
        self._log_refusals(report)
        return report

    def _fold(self, results: list[checking.Result], rewards: dict[int, float]) -> None:
        """Rewards into the moving average, skipping uids whose hotkey changed mid-round.

        An answer that came back signed and failed verification is proof of a wrong answer,
        which an honest miner does not give: with `--validator.reset_on_failure` its score
        restarts from zero, so occasional lucky passes cannot keep a cheater's score up.
        """
        current = self.metagraph.hotkeys if self.metagraph else ()
        kept = [r for r in results if r.uid < len(current) and current[r.uid] == r.hotkey]
        if len(current) != self.scores.n:
            self.scores.sync_hotkeys(list(current))
        if not kept:
            return
        self.scores.update(
            np.array([r.uid for r in kept], dtype=np.int64),
            [r.hotkey for r in kept],
            np.array([rewards[r.uid] for r in kept], dtype=np.float64),
        )
        if self.config.validator.reset_on_failure:
            self.scores.reset([r.uid for r in kept if r.proven_wrong])
        for r in kept:
            if r.proven_wrong:
                self.failed_verification.add(r.hotkey)
            elif r.detail == checking.VERIFIED:
                self.failed_verification.discard(r.hotkey)

    def fold_organic(self, result: checking.Result) -> None:
        """An organic answer the gateway verified. Proven wrong, it counts exactly as a failed
        round does (a zero reward, and the reset); verified, it changes no score: organic
        traffic follows routing, so it is no fair sample of the miners' speed. Its near-ties
        count in the miner's window like a synthetic answer's."""
        self._record_near_ties(result)
        if result.proven_wrong:
            self._fold([result], {result.uid: 0.0})

    def _record_near_ties(self, result: checking.Result) -> None:
        if result.answered and not result.left_out:
            self.near_ties.record(result.hotkey, result.outcome.completion_tokens, result.near_ties)

    def _watch_near_ties(self, result: checking.Result) -> checking.Result:
        """Count a judged answer's near-ties; a verified answer of a miner whose window is over
        the ceiling earns nothing (neurons/near_ties.py), and its score is not reset."""
        self._record_near_ties(result)
        if not (result.outcome.verified and self.near_ties.flagged(result.hotkey)):
            return result
        detail = near_tie_detail(self.near_ties, result.hotkey)
        self.log.warning("uid {}: {}", result.uid, detail)
        return replace(
            result, outcome=Outcome(False, result.outcome.completion_tokens), detail=detail
        )

    def _log_refusals(self, report: RoundReport) -> None:
        """One line per reason miners gave for refusing this round, with the miners' own
        words: a validator refused for lack of a permit or stake learns it here."""
        by_reason: dict[str, list[checking.Result]] = {}
        for r in report.results:
            if r.refusal is not None:
                by_reason.setdefault(r.refusal, []).append(r)
        for _, refused in sorted(by_reason.items()):
            uids = ", ".join(str(r.uid) for r in refused)
            self.log.warning(
                "{} of {} miners refused: {} (uid {})",
                len(refused),
                len(report.results),
                refused[0].detail,
                uids,
            )

    def _count(self, report: RoundReport) -> None:
        m = self.metrics
        m.rounds.inc()
        m.round_seconds.observe(report.seconds)
        m.block.set(report.block)
        for r in report.answers:
            if r.refusal is not None:
                outcome = "refused"
                m.refusals.labels(reason=r.refusal).inc()
            else:
                outcome = "answered" if r.answered else r.detail.split(" ")[0].rstrip(":")
            m.queries.labels(outcome=outcome).inc()
            if r.left_out:
                m.verifications.labels(result=checking.UNVERIFIED).inc()
            elif r.answered:
                m.verifications.labels(result="pass" if r.outcome.verified else "fail").inc()
            if r.outcome.verified and r.outcome.seconds is not None:
                m.answer_seconds.observe(r.outcome.seconds)
                m.verified_tokens.inc(r.outcome.completion_tokens)
        m.set_scores({uid: float(s) for uid, s in enumerate(self.scores.scores) if s > 0})

    async def step(self) -> RoundReport:
        """One round, weights if due, state saved: what the loop repeats."""
        report = await self.run_round()
        await self.maybe_set_weights(report.block)
        self.save()
        return report

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.load()
        await self.check_start()
        self.log_standing()
        self.start_metrics()
        self.save()
        await self.start_gateway()

    async def start_gateway(self) -> None:
        """Serve the OpenAI-compatible gateway when `--gateway.port` is given."""
        port = self.config.gateway.port
        if port is None:
            return
        try:
            self.gateway = open_gateway(self, self.config)
            await self.gateway.start(self.config.gateway.ip, port)
        except (GatewayPortInUse, StoreError) as exc:
            raise StartupError(str(exc)) from exc
        self.log.info(
            "gateway serving {} at http://{}:{}/v1 (keys in {})",
            self.model_name,
            self.config.gateway.ip,
            self.gateway.port,
            self.gateway.gateway.store.path,
        )

    async def stop_gateway(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
            self.gateway = None

    async def run(self) -> None:
        sync: asyncio.Task | None = None
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            await self.start()
            sync = asyncio.create_task(self.sync_loop())
            interval = self.config.validator.round_interval
            while not self.stopping.is_set():
                started = time.monotonic()
                round_task = asyncio.ensure_future(self.step())
                await asyncio.wait({round_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
                await self._finish_round(round_task)
                await self.sleep(interval - (time.monotonic() - started))
        finally:
            stopper.cancel()
            if sync is not None:
                sync.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sync
            await self.stop_gateway()
            self.save()
            await self.client.aclose()
            self.verifier_thread.shutdown(wait=False, cancel_futures=True)
            self.stop_metrics()
            self.log.info("stopped; state saved to {}", self.state_path)

    async def _finish_round(self, round_task: asyncio.Future) -> None:
        """A round in flight at stop gets the shutdown timeout to finish, then is cancelled.

        A round that fails is logged and the loop goes on: the next round starts afresh, and
        the scores of earlier rounds are kept.
        """
        if not round_task.done():
            done, _ = await asyncio.wait({round_task}, timeout=self.config.neuron.shutdown_timeout)
            if not done:
                self.log.warning("round did not finish within the shutdown timeout: dropped")
                round_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await round_task
                return
        try:
            round_task.result()
        except (ChainError, OSError) as exc:
            self.log.warning("round failed ({}); trying again next round", exc)
        except Exception:
            self.log.exception("round failed; trying again next round")


async def build(config: Config) -> Validator:
    """Wallet, chain and registration first (cheap), then the model (slow)."""
    chain, wallet = await connect_registered(config)
    return Validator(config, chain, wallet, load_checker(config))


def main(argv: list[str] | None = None) -> int:
    try:
        args = sys.argv[1:] if argv is None else argv
        config = load_config(VALIDATOR, args, prog="subnet validator")
        require_model(config)
        setup_logging(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_neuron(config, build)


if __name__ == "__main__":
    sys.exit(main())
