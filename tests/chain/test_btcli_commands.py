"""Every btcli command we tell a person to type exists in btcli 9.x with the options we give it.

The pinned table (data/btcli9.json, which names its source) stands in for a live btcli. The
checked lines are the README's and the hints built by chain/btcli.py (which the neurons and
the `subnet` commands print).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from chain import btcli

REPO = Path(__file__).resolve().parents[2]
TABLE = json.loads((Path(__file__).parent / "data" / "btcli9.json").read_text())
# A btcli command line inside backticks or on a line of its own in a code block.
BTCLI_LINE = re.compile(r"`(btcli [^`]+)`|^\s*(btcli [^\n`]+)$", re.MULTILINE)


def options_of(command: str) -> set[str]:
    entry = TABLE["commands"][command]
    grouped = {flag for group in entry["groups"] for flag in TABLE["option_groups"][group]}
    return grouped | set(entry["options"])


def problems_of(line: str) -> list[str]:
    """What btcli 9.x would refuse in one command line (empty when it accepts it all)."""
    words = shlex.split(line.replace("\\\n", " "))
    assert words[0] == "btcli", line
    command = " ".join(words[1:3])
    if command not in TABLE["commands"]:
        return [f"no command `btcli {command}`"]
    known = options_of(command)
    return [
        f"`btcli {command}` has no option {w}"
        for w in words[3:]
        if w.startswith("-") and w not in known
    ]


def readme_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [a or b for a, b in BTCLI_LINE.findall(text)]


HINTS = {
    "wallet_create": btcli.wallet_create("me", "miner", "~/w"),
    "wallet_new_hotkey": btcli.wallet_new_hotkey("me", "validator"),
    "subnets_register": btcli.subnets_register(7, "me", "miner", "test", "~/w"),
    "stake_add": btcli.stake_add(7, "me", "validator", "test", amount_tao=12.5),
    "stake_add_prompting": btcli.stake_add(7, "me", "validator", "finney"),
    "subnets_start": btcli.subnets_start(7, "owner", "test"),
    "subnets_list": btcli.subnets_list("test"),
}


@pytest.mark.parametrize("line", list(HINTS.values()), ids=list(HINTS))
def test_every_hint_we_build_is_a_btcli_9_command(line):
    assert problems_of(line) == []


def test_every_btcli_line_in_the_readme_is_a_btcli_9_command():
    lines = readme_lines()
    assert lines, "the README gives btcli commands"
    assert {line: problems_of(line) for line in lines} == {line: [] for line in lines}


def test_the_check_refuses_what_btcli_9_refuses():
    assert problems_of("btcli wallet create --wallet me") == [
        "`btcli wallet create` has no option --wallet"
    ]
    assert problems_of("btcli tx start-call --netuid 1") == ["no command `btcli tx start-call`"]
