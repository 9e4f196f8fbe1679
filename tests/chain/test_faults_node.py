"""Fault suite: the `subnet devchain` node facing malformed JSON-RPC and a damaged store file.

A body nested 100,000 deep once dropped the connection instead of answering -32700; every
malformed body now gets its JSON-RPC error and the node carries on. A damaged store is moved
aside with one message and the node starts on a new chain, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest
from chain_helpers import REPO, Node, node_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.dev.accounts import genesis
from chain.dev.machine import DevChain
from chain.dev.node import dispatch
from chain.dev.service import DevChainService

pytestmark = pytest.mark.fault

DEEP = 100_000
JSON_RPC_ERRORS = {-32700, -32600, -32601, -32602, -32603, -32000}
NODE_EXIT_TIMEOUT_S = 20


async def post(node: Node, body: bytes) -> tuple[int, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(node.url, content=body)
        return response.status_code, response.json() if response.content else None


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        b'{"jsonrpc": "2.0", "id": 1, "method": "block", "params": '
        + b"[" * DEEP
        + b"]" * DEEP
        + b"}",
    ],
    ids=["arrays", "objects", "inside params"],
)
async def test_a_body_nested_100000_deep_is_answered_parse_error(node, body):
    status, answer = await post(node, body)
    assert status == 200 and answer["error"]["code"] == -32700
    assert "nested too deeply" in answer["error"]["message"]
    _, answer = await post(node, b'{"jsonrpc": "2.0", "id": 2, "method": "block"}')
    assert isinstance(answer["result"], int)


def one_service() -> DevChainService:
    return DevChainService(DevChain(genesis(seed=b"node fault tests seed, 32 bytes!")))


SERVICE = one_service()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0"]) | json_values,
        "id": json_values,
        "method": st.sampled_from(["block", "info", "submit", "metagraph", "mine", "revert"])
        | json_values,
        "params": json_values,
    },
)
bodies = (
    st.binary(max_size=64)
    | json_values.map(lambda v: json.dumps(v).encode())
    | requests.map(lambda r: json.dumps(r).encode())
    | st.lists(requests, max_size=3).map(lambda r: json.dumps(r).encode())
)


def error_codes(answer) -> list[int]:
    answers = answer if isinstance(answer, list) else [answer]
    return [a["error"]["code"] for a in answers if isinstance(a, dict) and "error" in a]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_every_body_gets_a_json_rpc_answer_never_an_exception(body):
    answer = asyncio.run(dispatch(SERVICE, body))
    json.dumps(answer)  # what the node sends must itself be JSON
    assert set(error_codes(answer)) <= JSON_RPC_ERRORS


def test_a_node_on_a_damaged_store_says_so_once_and_starts_a_new_chain(tmp_path):
    db = tmp_path / "chain.sqlite"
    db.write_bytes(b"")
    node = Node("--db", str(db), "--manual").start()
    node.stop()
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith("chain.sqlite.corrupt-")]
    assert aside.read_bytes() == b""
    [message] = [line for line in node.startup_lines if "is damaged" in line]
    assert "empty (0 bytes)" in message and str(aside) in message
    assert "at block 0" in node.startup_lines[-1]
    assert not any("Traceback" in line for line in node.startup_lines)


def test_a_node_whose_store_cannot_be_used_exits_with_the_reason(tmp_path):
    result = subprocess.run(
        node_command("--db", str(tmp_path), "--manual"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=NODE_EXIT_TIMEOUT_S,
    )
    assert result.returncode == 1
    assert "is a folder: give a file path" in result.stderr
    assert "Traceback" not in result.stderr
