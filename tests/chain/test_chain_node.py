"""The `subnet devchain` node: JSON-RPC hygiene, long-poll waiting, signed transactions over
the wire, and durability across SIGKILL and restarts."""

from __future__ import annotations

import asyncio
import socket
import sqlite3

import httpx
import pytest
from chain_helpers import ALICE, BOB, Node

import chain
from chain import ChainError
from chain.dev.node import main
from chain.dev.signing import sign


async def rpc(node: Node, body, *, raw: bool = False):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            node.url, content=body if raw else None, json=None if raw else body
        )
        return response.status_code, (response.json() if response.content else None)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b'"a string"', -32600),
        (b"[]", -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "block"}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "no_such_method"}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "metagraph", "params": [1]}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "metagraph", "params": {"netuid": "x"}}', -32000),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "submit", "params": {"tx": {"call": 1}}}', -32000),
    ],
)
async def test_malformed_requests_get_a_json_rpc_error_and_the_node_carries_on(node, body, code):
    status, answer = await rpc(node, body, raw=True)
    assert status == 200
    assert answer["error"]["code"] == code
    _, answer = await rpc(node, {"jsonrpc": "2.0", "id": 2, "method": "block"})
    assert isinstance(answer["result"], int)


async def test_a_batch_answers_each_request_in_order(node):
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "block"},
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        {"jsonrpc": "2.0", "method": "block"},  # a notification: no answer
    ]
    _, answer = await rpc(node, batch)
    assert [a["id"] for a in answer] == ["a", "b"]
    assert "result" in answer[0] and answer[1]["error"]["code"] == -32601


async def test_a_get_is_refused_without_harm(node):
    async with httpx.AsyncClient() as client:
        response = await client.get(node.url)
    assert response.status_code == 405


async def test_a_forged_transaction_is_refused_over_the_wire(node):
    c = chain.connect(node.network)
    info = await rpc(node, {"jsonrpc": "2.0", "id": 1, "method": "info"})
    genesis_hash = info[1]["result"]["genesis_hash"]
    tx = sign(
        ALICE.coldkey, genesis_hash, "transfer", {"dest": BOB.coldkey.ss58_address, "amount": 5}, 0
    )
    forged = {**tx.to_dict(), "signer": BOB.coldkey.ss58_address}
    _, answer = await rpc(
        node, {"jsonrpc": "2.0", "id": 1, "method": "submit", "params": {"tx": forged}}
    )
    assert answer["error"]["data"]["code"] == "BadProof"
    await c.close()


async def test_a_replayed_transaction_is_refused_over_the_wire(node):
    c = chain.connect(node.network)
    try:
        await c.transfer(BOB, ALICE.coldkey.ss58_address, 1)
        _, info = await rpc(node, {"jsonrpc": "2.0", "id": 1, "method": "info"})
        _, nonce = await rpc(
            node,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "nonce",
                "params": {"address": BOB.coldkey.ss58_address},
            },
        )
        args = {"dest": ALICE.coldkey.ss58_address, "amount": 1}
        used = nonce["result"] - 1
        tx = sign(BOB.coldkey, info["result"]["genesis_hash"], "transfer", args, used).to_dict()
        request = {"jsonrpc": "2.0", "id": 3, "method": "submit", "params": {"tx": tx}}
        _, answer = await rpc(node, request)
        assert answer["error"]["data"]["code"] == "Stale"
    finally:
        await c.close()


async def test_wait_for_block_returns_when_another_client_mines(node):
    waiter, miner = chain.connect(node.network), chain.connect(node.network)
    try:
        target = await waiter.block() + 2
        waiting = asyncio.create_task(waiter.wait_for_block(target, timeout=10))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await miner.mine(2)
        assert await asyncio.wait_for(waiting, 5) == target
    finally:
        await waiter.close()
        await miner.close()


async def test_wait_for_block_gives_up_after_its_timeout(node):
    c = chain.connect(node.network)
    try:
        with pytest.raises(TimeoutError):
            await c.wait_for_block(await c.block() + 100, timeout=0.2)
    finally:
        await c.close()


async def test_an_unreachable_node_is_a_connection_error():
    c = chain.connect("dev://127.0.0.1:1")
    with pytest.raises(ChainError) as caught:
        await c.block()
    assert caught.value.code == "ConnectionError"
    await c.close()


ACKED_BEFORE_KILL = 120


async def _send_transfers(network: str, sender, prefix: str, acked: list, stop: asyncio.Event):
    c = chain.connect(network)
    try:
        for i in range(10_000):
            if stop.is_set():
                return
            dest = chain.dev_wallet(f"//{prefix}{i}").coldkey.ss58_address
            amount = 1_000_000 + i
            try:
                result = await c.submit(
                    sender.coldkey, "transfer", {"dest": dest, "amount": amount}
                )
            except ChainError:
                return  # the node is gone: this one was never acknowledged
            acked.append((dest, amount, result["block"]))
    finally:
        await c.close()


async def test_sigkill_loses_no_acknowledged_transaction_and_the_block_resumes(tmp_path):
    db = str(tmp_path / "chain.sqlite")
    node = Node("--db", db, "--block-time", "0.02").start()
    acked: list = []
    stop = asyncio.Event()
    senders = [
        asyncio.create_task(_send_transfers(node.network, w, w.name[2:6], acked, stop))
        for w in (BOB, chain.dev_wallet("//Charlie"), chain.dev_wallet("//Dave"))
    ]
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(acked) < ACKED_BEFORE_KILL:
            assert asyncio.get_running_loop().time() < deadline, f"only {len(acked)} acknowledged"
            await asyncio.sleep(0.005)
        node.kill()  # SIGKILL while all three senders still have transactions in flight
        stop.set()
        await asyncio.gather(*senders)
    finally:
        node.stop()
    restarted = Node("--db", db, "--manual").start()
    c = chain.connect(restarted.network)
    try:
        for dest, amount, _ in acked:
            assert await c.balance(dest) == amount
        assert await c.block() >= max(block for *_, block in acked)
        before = await c.block()
        assert await c.mine(1) == before + 1
        await c.transfer(BOB, ALICE.coldkey.ss58_address, 1)  # nonces carried on too
    finally:
        await c.close()
        restarted.stop()


async def test_a_restarted_node_resumes_at_the_same_block_with_its_reverts(tmp_path):
    db = str(tmp_path / "chain.sqlite")
    first = Node("--db", db, "--manual").start()
    c = chain.connect(first.network)
    try:
        netuid = await c.create_subnet(ALICE)
        snapshot = await c.snapshot()
        await c.mine(5)
        await c.create_subnet(BOB)
        await c.revert(snapshot)
        await c.mine(3)
    finally:
        await c.close()
        first.stop()
    second = Node("--db", db, "--manual").start()
    c = chain.connect(second.network)
    try:
        assert await c.block() == 3
        assert await c.subnets() == [netuid]
    finally:
        await c.close()
        second.stop()


async def test_a_corrupt_store_is_moved_aside_and_a_new_chain_starts(tmp_path):
    db = tmp_path / "chain.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    node = Node("--db", str(db), "--manual").start()
    try:
        c = chain.connect(node.network)
        assert await c.block() == 0
        await c.close()
    finally:
        node.stop()
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 1


def test_a_taken_port_is_refused_saying_what_to_do(capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["--port", str(port), "--manual"]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in err
    assert "Errno" not in err and "--port" in err


def test_the_port_defaults_to_the_environment(capsys, monkeypatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("SUBNET_DEVCHAIN_PORT", str(port))
        assert main(["--manual"]) == 1
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
