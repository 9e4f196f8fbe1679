"""Dev chain transactions: a call, its arguments, the signer and a nonce, signed with sr25519.

The signed bytes are a domain tag, the chain's genesis hash (a transaction is valid on one
chain only) and the canonical JSON of `{call, args, signer, nonce}`. The node checks the
signature against the signer's ss58 address before anything else, then the nonce: it must be
exactly the account's next nonce, so a transaction cannot be replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bittensor.keyfiles import Keypair

from chain.errors import BAD_PROOF, INVALID_ARGUMENT, ChainError

DOMAIN = b"subnetkit-devchain-tx:v1:"
SIGNATURE_BYTES = 64


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signing_payload(genesis_hash: str, call: str, args: dict, signer: str, nonce: int) -> bytes:
    body = {"call": call, "args": args, "signer": signer, "nonce": nonce}
    return DOMAIN + genesis_hash.encode() + b":" + canonical(body)


@dataclass(frozen=True)
class Transaction:
    call: str
    args: dict
    signer: str
    nonce: int
    signature: str  # hex

    def to_dict(self) -> dict:
        return {
            "call": self.call,
            "args": self.args,
            "signer": self.signer,
            "nonce": self.nonce,
            "signature": self.signature,
        }

    @staticmethod
    def from_dict(data: object) -> Transaction:
        if not isinstance(data, dict):
            raise ChainError(INVALID_ARGUMENT, "a transaction is an object")
        call, args, signer = data.get("call"), data.get("args"), data.get("signer")
        nonce, signature = data.get("nonce"), data.get("signature")
        if not isinstance(call, str) or not isinstance(args, dict):
            raise ChainError(INVALID_ARGUMENT, "a transaction needs a call name and an args object")
        if not isinstance(signer, str) or not isinstance(signature, str):
            raise ChainError(INVALID_ARGUMENT, "a transaction needs a signer and a signature")
        if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 0:
            raise ChainError(
                INVALID_ARGUMENT, f"nonce must be a non-negative integer, got {nonce!r}"
            )
        return Transaction(call, args, signer, nonce, signature)


def sign(keypair, genesis_hash: str, call: str, args: dict, nonce: int) -> Transaction:
    signer = keypair.ss58_address
    signature = keypair.sign(signing_payload(genesis_hash, call, args, signer, nonce))
    return Transaction(call, args, signer, nonce, bytes(signature).hex())


def verify(tx: Transaction, genesis_hash: str) -> None:
    """Raise BadProof unless the signature is the signer's over this exact transaction."""
    try:
        signature = bytes.fromhex(tx.signature)
        public = Keypair(ss58_address=tx.signer)
    except ValueError as error:
        raise ChainError(BAD_PROOF, f"unreadable signer or signature: {error}") from None
    payload = signing_payload(genesis_hash, tx.call, tx.args, tx.signer, tx.nonce)
    if len(signature) != SIGNATURE_BYTES or not public.verify(payload, signature):
        raise ChainError(
            BAD_PROOF,
            f"the signature is not {tx.signer}'s over this transaction on this chain",
        )
