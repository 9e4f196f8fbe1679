"""Wallets made from dev key URIs, for tests and local demos (no key files on disk).

`dev_wallet("//Alice")` has //Alice as its coldkey and //Alice//hot as its hotkey; it has the
`coldkey`, `coldkeypub` and `hotkey` a `bittensor.Wallet` has, so every Chain method and the
SDK accept it. Never use dev URIs for real funds: everyone knows their secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from bittensor.keyfiles import Keypair


@dataclass(frozen=True)
class DevWallet:
    coldkey: Keypair
    hotkey: Keypair
    name: str = "dev"

    @property
    def coldkeypub(self) -> Keypair:
        return Keypair(ss58_address=self.coldkey.ss58_address)

    @property
    def hotkeypub(self) -> Keypair:
        return Keypair(ss58_address=self.hotkey.ss58_address)


def dev_wallet(coldkey_uri: str, hotkey_uri: str | None = None) -> DevWallet:
    """A wallet from URIs such as "//Alice" (hotkey defaults to COLDKEY_URI + "//hot")."""
    hotkey_uri = hotkey_uri or f"{coldkey_uri}//hot"
    return DevWallet(
        coldkey=Keypair.create_from_uri(coldkey_uri),
        hotkey=Keypair.create_from_uri(hotkey_uri),
        name=f"{coldkey_uri}/{hotkey_uri}",
    )
