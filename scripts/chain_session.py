"""What the `subnet` chain commands need beyond the `Chain` API: who is sudo, and plans.

A plan is what a transaction would do (fee, effects, warnings, blocking problems) without
sending it. On the real networks it comes from the bittensor SDK's own dry run
(`Client.plan(intent, wallet)`: the call is built and its fee estimated; nothing is signed).
On a dev chain there are no fees, and the effects are stated from the dev chain's rules.
Amounts in plans are TAO.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import chain as chain_api
from chain import Chain, ChainError
from chain.dev.accounts import dev_address
from chain.dev.params import GenesisConfig
from chain.types import rao_to_tao, to_rao
from scripts.owner_rules import AMOUNTS, shown

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


class ChainSession:
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
        unit = " TAO" if name in AMOUNTS else ""
        effect = f"set {name} = {shown(name, value)}{unit} on subnet {netuid}"
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

        intent = bt.SetHyperparameter(netuid=int(netuid), name=name, value=value)
        return await self.plan_intent(intent, wallet)

    async def plan_intent(self, intent, wallet) -> PlanView:
        """The SDK's own dry run of an intent (real networks)."""
        client = await self._client()
        return _from_sdk_plan(await _sdk_plan(client, intent, wallet))

    async def _dev_balance(self, coldkey: str) -> tuple[int, str]:
        balance = await self.chain.balance(coldkey)
        return balance, f"balance {rao_to_tao(balance):g} TAO"

    async def plan_transfer(self, wallet, dest: str, amount_tao: float) -> PlanView:
        coldkey = wallet.coldkeypub.ss58_address
        if not self.is_dev:
            import bittensor as bt

            amount = bt.Balance.from_rao(to_rao(amount_tao))
            return await self.plan_intent(bt.Transfer(dest_ss58=dest, amount_tao=amount), wallet)
        balance, shown = await self._dev_balance(coldkey)
        violations = []
        if balance < to_rao(amount_tao):
            violations.append(f"coldkey holds {rao_to_tao(balance):g} TAO, not {amount_tao:g}")
        effect = f"send {amount_tao:g} TAO from {coldkey} ({shown}) to {dest}"
        return PlanView("transfer", coldkey, 0.0, [effect], violations=violations)

    async def plan_register(self, wallet, netuid: int) -> PlanView:
        coldkey, hotkey = wallet.coldkeypub.ss58_address, wallet.hotkey.ss58_address
        if not self.is_dev:
            import bittensor as bt

            return await self.plan_intent(bt.BurnedRegister(netuid=int(netuid)), wallet)
        burn = (await self.chain.hyperparameters(netuid)).burn
        metagraph = await self.chain.metagraph(netuid)
        balance, shown = await self._dev_balance(coldkey)
        violations = []
        if metagraph.uid_of(hotkey) is not None:
            violations.append(f"hotkey {hotkey} is uid {metagraph.uid_of(hotkey)} already")
        if balance < burn:
            violations.append(
                f"coldkey holds {rao_to_tao(balance):g} TAO; registering burns {rao_to_tao(burn):g}"
            )
        effects = [
            f"burn {rao_to_tao(burn):g} TAO from coldkey {coldkey} ({shown})",
            f"hotkey {hotkey} takes a uid on subnet {netuid}",
        ]
        return PlanView(
            f"register on subnet {netuid}", coldkey, 0.0, effects, violations=violations
        )

    async def plan_stake(
        self, wallet, netuid: int, hotkey: str, amount_tao: float, adding: bool
    ) -> PlanView:
        coldkey = wallet.coldkeypub.ss58_address
        if not self.is_dev:
            import bittensor as bt

            amount = bt.Balance.from_rao(to_rao(amount_tao))
            if adding:
                intent = bt.AddStake(hotkey_ss58=hotkey, netuid=int(netuid), amount_tao=amount)
            else:
                alpha = bt.Balance.from_rao(to_rao(amount_tao), int(netuid))
                intent = bt.RemoveStake(hotkey_ss58=hotkey, netuid=int(netuid), amount_alpha=alpha)
            return await self.plan_intent(intent, wallet)
        violations = []
        if adding:
            balance, shown = await self._dev_balance(coldkey)
            if balance < to_rao(amount_tao):
                violations.append(f"coldkey holds {rao_to_tao(balance):g} TAO, not {amount_tao:g}")
            effect = f"stake {amount_tao:g} TAO from coldkey {coldkey} ({shown}) on hotkey {hotkey}"
        else:
            held = await self.chain.stake(netuid, hotkey, coldkey)
            if held < to_rao(amount_tao):
                violations.append(
                    f"coldkey has {rao_to_tao(held):g} TAO staked on {hotkey}, not {amount_tao:g}"
                )
            effect = f"unstake {amount_tao:g} TAO from hotkey {hotkey} back to coldkey {coldkey}"
        what = "add stake" if adding else "remove stake"
        effects = [f"{effect} in subnet {netuid} (1 TAO = 1 alpha on the dev chain)"]
        return PlanView(f"{what} on subnet {netuid}", coldkey, 0.0, effects, violations=violations)


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
