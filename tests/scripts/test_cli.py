"""The `subnet` dispatcher: what a user sees before any subcommand runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts import cli


def test_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_no_arguments_prints_usage_and_succeeds(capsys):
    assert cli.main([]) == 0
    assert "usage: subnet COMMAND" in capsys.readouterr().out


def test_unknown_subcommand_is_refused_with_usage(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err
    assert "commands:" in err


def test_console_script_is_installed():
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "subnet"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "devchain" in result.stdout
