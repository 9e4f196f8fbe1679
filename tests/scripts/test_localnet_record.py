"""What a localnet run records: epochs found by the chain's schedule, one row per epoch and
neuron, the CSV and the plot."""

from __future__ import annotations

from chain import AxonInfo, Metagraph
from scripts.localnet_chain import CHEATER, MINER, VALIDATOR, NeuronSpec
from scripts.localnet_record import (
    epoch_at,
    epoch_block,
    epoch_rows,
    first_paying_epoch,
    plot_emission,
    read_csv,
    totals,
    write_csv,
)

U16 = 65_535
RAO = 1_000_000_000


def metagraph(hotkeys: list[str], incentive: list[float], emission_tao: list[float]) -> Metagraph:
    n = len(hotkeys)
    return Metagraph.build(
        netuid=1,
        block=40,
        hotkeys=hotkeys,
        coldkeys=["c"] * n,
        stake=[0] * n,
        validator_permit=[False] * n,
        axons=[AxonInfo("0.0.0.0", 0)] * n,
        incentive_u16=[round(x * U16) for x in incentive],
        dividends_u16=[0] * n,
        emission=[round(x * RAO) for x in emission_tao],
        consensus_u16=[0] * n,
        validator_trust_u16=[0] * n,
        last_update=[0] * n,
        block_at_registration=[0] * n,
    )


NEURONS = [
    NeuronSpec("validator0", VALIDATOR, "validator0", "hv", "cv", 0),
    NeuronSpec("miner0", MINER, "miner0", "hm", "cm", 1),
    NeuronSpec("miner1", CHEATER, "miner1", "hc", "cc", 2),
]


def test_epochs_fall_every_tempo_blocks_from_the_tempo_block():
    assert [epoch_at(b, 7, 10) for b in (7, 16, 17, 26, 27)] == [0, 0, 1, 1, 2]
    assert epoch_block(2, 7, 10) == 27


def test_a_uid_taken_by_another_hotkey_is_not_reported_as_the_old_neuron():
    rows = epoch_rows(3, metagraph(["hv", "hm", "someone-else"], [0, 1, 0], [1, 2, 0]), NEURONS)
    assert [r.name for r in rows] == ["validator0", "miner0"]


def test_rows_carry_the_epoch_and_the_emission_in_tao():
    rows = epoch_rows(3, metagraph(["hv", "hm", "hc"], [0, 1, 0], [1.5, 2, 0]), NEURONS)
    assert [(r.epoch, r.name, r.emission_tao) for r in rows] == [
        (3, "validator0", 1.5),
        (3, "miner0", 2.0),
        (3, "miner1", 0.0),
    ]


def test_totals_sum_each_neuron_over_epochs():
    graph = metagraph(["hv", "hm", "hc"], [0, 1, 0], [1, 2, 0])
    rows = epoch_rows(1, graph, NEURONS) + epoch_rows(2, graph, NEURONS)
    assert totals(rows) == {"validator0": 2.0, "miner0": 4.0, "miner1": 0.0}


def test_the_first_paying_epoch_ignores_the_cheater():
    cheater_only = metagraph(["hv", "hm", "hc"], [0, 0, 1], [0, 0, 1])
    honest = metagraph(["hv", "hm", "hc"], [0, 1, 0], [0, 1, 0])
    assert first_paying_epoch(epoch_rows(1, cheater_only, NEURONS)) is None
    rows = epoch_rows(1, cheater_only, NEURONS) + epoch_rows(2, honest, NEURONS)
    assert first_paying_epoch(rows) == 2


def test_the_csv_has_one_row_per_epoch_and_neuron(tmp_path):
    graph = metagraph(["hv", "hm", "hc"], [0, 1, 0], [1, 2, 0])
    rows = epoch_rows(1, graph, NEURONS) + epoch_rows(2, graph, NEURONS)
    write_csv(tmp_path / "epochs.csv", rows)
    read = read_csv(tmp_path / "epochs.csv")
    assert [(r["epoch"], r["name"]) for r in read] == [(str(r.epoch), r.name) for r in rows]
    assert float(read[1]["emission_tao"]) == 2.0


def test_the_plot_is_a_png(tmp_path):
    graph = metagraph(["hv", "hm", "hc"], [0, 1, 0], [1, 2, 0])
    plot_emission(tmp_path / "emission.png", epoch_rows(1, graph, NEURONS), "title")
    assert (tmp_path / "emission.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
