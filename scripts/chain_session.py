"""What `subnet owner` needs from a chain beyond the `Chain` API: who is sudo, and plans.

A plan is what a transaction would do (fee, effects, warnings, blocking problems) without
sending it. On the real networks it comes from the bittensor SDK's own dry run
(`Client.plan(intent, wallet)`: the call is built and its fee estimated; nothing is signed).
On a dev chain there are no fees, and the effects are stated from the dev chain's rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import chain as chain_api
from chain import Chain, ChainError
from chain.dev.accounts import dev_address
from chain.dev.params import GenesisConfig
from chain.types import rao_to_tao

DEV_PREFIXES = ("dev:memory", "dev://")
REAL_NETWORKS = ("finney", "test")


def is_dev_network(network: str) -> bool:
    return network == "dev" or network.startswith(DEV_PREFIXES)


def allows_dev_keys(network: str) -> bool:
    """Dev key URIs (//Alice) are public secrets: only for chains on this machine."""
    if is_dev_network(network) or network == "local":
        return True
    return network.startswith(("ws://127.0.0.1", "ws://localhost"))


@dataclass(frozen=True)
class PlanView:
    """A previewed transaction, in the words and units `subnet owner` prints."""

    summary: str
    signer: str
    fee_tao: float | None
    effects: list[str]
    warnings: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _from_sdk_plan(plan) -> PlanView:
    record = plan.to_dict()
    effects = list(plan.effects)
    if record["spend_unbounded"]:
        effects.append(
            "spends the subnet registration cost, which the chain fixes only at execution"
        )
    elif record["spend_tao"] is not None:
        effects.append(f"spends {record['spend_tao']} TAO")
    return PlanView(
        summary=plan.summary,
        signer=plan.signer_address or "",
        fee_tao=None if plan.fee is None else float(plan.fee.tao),
        effects=effects,
        warnings=list(plan.warnings),
        violations=list(plan.violations),
    )


class OwnerChain:
    """A `Chain` for `network`, plus sudo lookup and dry-run plans.

    `substrate` injects an SDK `Substrate` for the real-network path (tests use a fake)."""

    def __init__(self, network: str, substrate=None):
        self.network = network
        self.is_dev = is_dev_network(network)
        self._substrate = substrate
        if self.is_dev:
            self.chain: Chain = chain_api.connect(network)
        else:
            self.chain = chain_api.connect(network, substrate=substrate)
        self._sdk_client = None

    async def _client(self):
        """A bittensor SDK client for reads the `Chain` API does not cover, and for plans."""
        if self._sdk_client is None:
            import bittensor as bt

            from chain.subtensor import as_chain_error

            try:
                self._sdk_client = await bt.Subtensor(self.network, substrate=self._substrate)
            except Exception as error:
                raise as_chain_error(error) from None
        return self._sdk_client

    async def close(self) -> None:
        await self.chain.close()
        if self._sdk_client is not None:
            await self._sdk_client.close()
            self._sdk_client = None

    async def sudo_key(self) -> str | None:
        """The chain's sudo account: //Alice on a dev chain; `Sudo.Key` elsewhere (None on
        networks without one)."""
        if self.is_dev:
            return dev_address(GenesisConfig().sudo_uri)
        client = await self._client()
        try:
            key = await client.query(("Sudo", "Key"))
        except Exception:  # a runtime without the Sudo pallet has no sudo key
            return None
        return None if key is None else str(key)

    async def plan_create(self, wallet) -> PlanView:
        coldkey = wallet.coldkeypub.ss58_address
        hotkey = wallet.hotkey.ss58_address if _has_hotkey(wallet) else "(the wallet's hotkey)"
        if self.is_dev:
            cost = GenesisConfig().subnet_lock_cost
            balance = await self.chain.balance(coldkey)
            violations = []
            if balance < cost:
                violations.append(
                    f"coldkey holds {rao_to_tao(balance):g} TAO; creating a subnet locks "
                    f"{rao_to_tao(cost):g} TAO"
                )
            return PlanView(
                summary="register a new subnet",
                signer=coldkey,
                fee_tao=0.0,
                effects=[
                    f"lock {rao_to_tao(cost):g} TAO from coldkey {coldkey} "
                    f"(balance {rao_to_tao(balance):g} TAO)",
                    f"new subnet owned by {coldkey}; owner hotkey {hotkey} takes uid 0",
                    "the new subnet starts with the chain's defaults (tempo 360, "
                    "commit-reveal on): tune them with `subnet owner set`",
                ],
                violations=violations,
            )
        import bittensor as bt

        client = await self._client()
        plan = _from_sdk_plan(await _sdk_plan(client, bt.RegisterSubnet(), wallet))
        cost = await _registration_cost(client)
        if cost is not None:
            plan.effects.insert(0, f"lock the subnet registration cost, now {cost:g} TAO")
        return plan

    async def plan_set(
        self, wallet, netuid: int, name: str, value: int | bool, as_sudo: bool
    ) -> PlanView:
        signer = wallet.coldkeypub.ss58_address
        effect = f"set {name} = {value} on subnet {netuid}"
        if self.is_dev:
            return PlanView(f"set hyperparameter {name}", signer, 0.0, [effect])
        if as_sudo:
            return PlanView(
                f"set hyperparameter {name} as sudo",
                signer,
                None,
                [f"Sudo.sudo(AdminUtils setter): {effect}"],
                warnings=["the SDK does not price sudo-wrapped calls; the fee is not estimated"],
            )
        import bittensor as bt

        client = await self._client()
        intent = bt.SetHyperparameter(netuid=int(netuid), name=name, value=value)
        return _from_sdk_plan(await _sdk_plan(client, intent, wallet))


def _has_hotkey(wallet) -> bool:
    try:
        wallet.hotkey  # noqa: B018 (reading it is the check)
    except Exception:
        return False
    return True


async def _sdk_plan(client, intent, wallet):
    from chain.subtensor import as_chain_error

    try:
        return await client.plan(intent, wallet)
    except ChainError:
        raise
    except Exception as error:
        raise as_chain_error(error) from None


async def _registration_cost(client) -> float | None:
    """The current subnet lock cost in TAO, when the node answers the runtime call."""
    try:
        cost = await client.subnets.subnet_registration_cost()
    except Exception:
        return None
    return float(cost.tao)
