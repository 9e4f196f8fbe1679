"""Built-in scenarios for `subnet simulate`, in the same schema as scenario files."""

from __future__ import annotations

import copy

_MINERS = [
    {"name": f"m{i}", "role": "miner", "quality": q}
    for i, q in enumerate([0.95, 0.9, 0.8, 0.7, 0.6, 0.45, 0.3, 0.15])
]

HONEST = {
    "name": "honest",
    "description": "Four honest validators score eight miners of different quality.",
    "epochs": 40,
    "seed": 1,
    "hyperparameters": {"tempo": 360, "yuma3_enabled": True},
    "neurons": [
        {"name": "v0", "role": "validator", "stake": 400_000},
        {"name": "v1", "role": "validator", "stake": 300_000},
        {"name": "v2", "role": "validator", "stake": 200_000},
        {"name": "v3", "role": "validator", "stake": 100_000},
        *_MINERS,
    ],
}

LAZY = {
    "name": "lazy",
    "description": "Three honest validators and one lazy one that copies last epoch's consensus.",
    "epochs": 40,
    "seed": 2,
    "hyperparameters": {"tempo": 360, "yuma3_enabled": True},
    "neurons": [
        {"name": "v0", "role": "validator", "stake": 350_000},
        {"name": "v1", "role": "validator", "stake": 250_000},
        {"name": "v2", "role": "validator", "stake": 150_000},
        {"name": "lazy", "role": "validator", "stake": 250_000, "behaviour": "lazy"},
        *_MINERS,
    ],
}

COLLUDING = {
    "name": "colluding",
    "description": "Two validators with 30% of the stake put all weight on their own worthless "
    "miner; the honest majority gives it nothing, so consensus gives it nothing.",
    "epochs": 40,
    "seed": 3,
    "hyperparameters": {"tempo": 360, "yuma3_enabled": True},
    "neurons": [
        {"name": "v0", "role": "validator", "stake": 300_000},
        {"name": "v1", "role": "validator", "stake": 250_000},
        {"name": "v2", "role": "validator", "stake": 150_000},
        {
            "name": "c0",
            "role": "validator",
            "stake": 200_000,
            "behaviour": "colluding",
            "target": "own",
        },
        {
            "name": "c1",
            "role": "validator",
            "stake": 100_000,
            "behaviour": "colluding",
            "target": "own",
        },
        *_MINERS,
        {"name": "own", "role": "miner", "quality": 0.0},
    ],
}

BUILTIN = {"honest": HONEST, "lazy": LAZY, "colluding": COLLUDING}


def builtin(name: str) -> dict:
    """A fresh copy of a built-in scenario."""
    try:
        return copy.deepcopy(BUILTIN[name])
    except KeyError:
        raise KeyError(f"no built-in scenario {name!r}; choose one of {sorted(BUILTIN)}") from None
