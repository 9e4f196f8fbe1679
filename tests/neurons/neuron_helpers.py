"""Helpers for the neuron tests: a subnet on an in-process dev chain, neurons, test backends,
canned miner answers.

Everything runs on 127.0.0.1 with port 0; every miner a test starts is stopped by the
`subnet` fixture that owns it, also when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import chain
from chain import DevWallet, dev_wallet
from neurons.config import Config, load_config
from neurons.miner import Miner, ServedModel, load_served_model
from neurons.validator import Validator, load_checker
from protocol import schemas as wire
from protocol.client import Reply, Target

HONEST_SEED = 0
OTHER_SEED = 1  # another model: what the cheating miner serves
# The name every test neuron gives the model on the wire: a cheater claims it too.
REQUEST_NAME = "subnet-model"
TEMPO = 10
VALIDATOR_STAKE_TAO = (1000, 500)
# Subnet settings that let a test register, serve and set weights without waiting.
FAST_SUBNET = {
    "tempo": TEMPO,
    "weights_rate_limit": 0,
    "commit_reveal_weights_enabled": False,
    "immunity_period": 0,
    "max_regs_per_block": 64,
    "serving_rate_limit": 0,
}
OWNER = dev_wallet("//Alice")
# A fixed task secret makes the tasks, hence every answer and verdict, the same on every run.
TASK_SECRET = "5e" * 32
_chain_names = itertools.count()


@dataclass(frozen=True)
class TinyModels:
    honest: Path
    other: Path


@dataclass
class Subnet:
    """A subnet on a shared in-process dev chain: two staked validators and three miners."""

    network: str
    netuid: int
    owner: chain.Chain
    models: TinyModels
    tmp: Path
    validators: list[DevWallet]
    miners: list[DevWallet]
    started: list[Miner] = field(default_factory=list)

    def config(self, role: str, *flags: str) -> Config:
        common = ["--netuid", str(self.netuid), "--subtensor.network", self.network]
        if role == "miner":
            common += ["--axon.ip", "127.0.0.1", "--axon.port", "0"]
        common += ["--model", str(self.models.honest), "--model.request_name", REQUEST_NAME]
        return load_config(role, [*common, *flags], env={})

    def uid_of(self, wallet: DevWallet) -> int:
        return self.miners.index(wallet) + len(self.validators) + 1  # uid 0 is the owner

    async def start_miner(
        self,
        wallet: DevWallet,
        model: Path | None = None,
        *flags: str,
        wrap: Callable[[ServedModel], ServedModel] | None = None,
    ) -> Miner:
        config = self.config("miner", *flags, "--model", str(model or self.models.honest))
        served = load_served_model(config)
        miner = Miner(config, chain.connect(self.network), wallet, wrap(served) if wrap else served)
        self.started.append(miner)
        await miner.start()
        return miner

    def validator(
        self,
        index: int,
        *flags: str,
        state: Path | None = None,
        secret: str | None = TASK_SECRET,
        wallet: DevWallet | None = None,
    ) -> Validator:
        """Validator `index` (or a validator signing with `wallet`, another registered hotkey)."""
        path = state or self.tmp / f"validator{index}.json"
        secret_flags = ["--validator.task_secret", secret] if secret else []
        config = self.config(
            "validator", "--validator.state_path", str(path), *secret_flags, *flags
        )
        signer = wallet or self.validators[index]
        return Validator(config, chain.connect(self.network), signer, load_checker(config))

    async def close(self) -> None:
        for miner in self.started:
            await miner.shutdown()


async def make_subnet(models: TinyModels, tmp: Path) -> Subnet:
    network = f"dev:memory:neurons-{next(_chain_names)}"
    owner = chain.connect(network)
    netuid = await owner.create_subnet(OWNER)
    validators = [dev_wallet("//Bob", f"//Bob//validator{i}") for i in range(2)]
    for name, value in {**FAST_SUBNET, "max_validators": len(validators)}.items():
        await owner.set_hyperparameter(OWNER, netuid, name, value)
    miners = [dev_wallet("//Charlie", f"//Charlie//miner{i}") for i in range(3)]
    for wallet in validators + miners:
        await owner.register(wallet, netuid)
    for wallet, stake in zip(validators, VALIDATOR_STAKE_TAO, strict=True):
        await owner.add_stake(dev_wallet("//Bob"), netuid, wallet.hotkey.ss58_address, stake)
    # Validator permits are handed out at the first epoch.
    await owner.mine(TEMPO + 1)
    return Subnet(network, netuid, owner, models, tmp, validators, miners)


@dataclass
class SlowBackend:
    """A test-only backend wrapper: the same answers, each `delay_s` later."""

    inner: object
    delay_s: float

    async def generate(self, request):
        await asyncio.sleep(self.delay_s)
        return await self.inner.generate(request)

    async def stream(self, request):
        # Streamed tasks are scored on speed too: the delay comes before the first event.
        await asyncio.sleep(self.delay_s)
        async for event in self.inner.stream(request):
            yield event

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class CountingBackend:
    """A test-only backend wrapper that counts what reaches the model."""

    inner: object
    calls: int = 0

    async def generate(self, request):
        self.calls += 1
        return await self.inner.generate(request)

    def stream(self, request):
        self.calls += 1
        return self.inner.stream(request)

    async def close(self) -> None:
        await self.inner.close()


def slow(delay_s: float) -> Callable[[ServedModel], ServedModel]:
    def wrap(served: ServedModel) -> ServedModel:
        return ServedModel(
            SlowBackend(served.backend, delay_s), served.name, served.decode, served.busy
        )

    return wrap


def proven_choice() -> wire.CompletionChoice:
    """A two-token completion choice that carries its proof (token ids and logprobs)."""
    entries = [wire.TokenLogprob(token="a", logprob=-0.1, token_id=97)] * 2
    return wire.CompletionChoice(
        text="aa",
        finish_reason="length",
        token_ids=[97, 97],
        logprobs=wire.CompletionLogprobs(content=entries),
    )


def completion_reply(target: Target, choice: wire.CompletionChoice) -> Reply:
    """A miner's answer of `choice` (3 prompt and 2 completion tokens, 0.5 s latency)."""
    parsed = wire.Completion(
        id="x",
        created=0,
        model="m",
        choices=[choice],
        usage=wire.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5),
    )
    return Reply(target, 200, parsed, b"", {}, 0.5, 0.1)


@contextlib.contextmanager
def silent_server():
    """A TCP server that accepts connections and never answers: a hung miner."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
