"""The README's table of options is the neurons' own: every option, its flag and variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurons.options import OPTIONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.key)
def test_every_option_has_its_row_in_the_readme(option):
    assert f"| `{option.flag}` |" in README
    assert f"`{option.env}`" in README


@pytest.mark.parametrize(
    "name", sorted({name for option in OPTIONS for name in (*option.aliases, *option.env_aliases)})
)
def test_every_alias_is_named_in_the_readme(name):
    assert f"`{name}`" in README
