import pytest

from rnn_lightning.cli.bench import parse_setting

from .conftest import run_command


@pytest.mark.slow
def test_bench_measures_each_setting_in_both_loops_and_a_full_epoch(tiny_archive, tmp_path, capsys):
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path), "--num-words", "30", "--maxlen", "24",
            "--steps", "2", "--warmup", "1", "--repeat", "2",
            "--setting", "fast=1,batch=8", "--setting", "fast=0,flush=0,batch=8", "--setting", "compiled=0,batch=8",
            "--loops", "bare", "lightning", "epoch"]
    assert run_command("bench", args) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split("|")[1:-1] for line in out if line.startswith("| rnn")]
    loops = ("bare PyTorch", "Lightning", "Lightning epoch")
    assert [(r[0].strip(), r[1].strip()) for r in rows] == [
        (setting, loop) for setting in ("rnn b8 32-true cpu compiled", "rnn b8 32-true cpu nn.RNN no-flush",
                                        "rnn b8 32-true cpu fast loop") for loop in loops]
    for row in rows:
        ms_per_step, samples_per_s, peak_mb = float(row[2]), float(row[3]), float(row[5])
        assert ms_per_step > 0 and samples_per_s > 0 and peak_mb > 50
    assert rows[0][4].strip() == "-" and float(rows[2][4]) > 0  # only the full epoch has an epoch time
    assert sum(line.startswith("Lightning loop overhead for") for line in out) == 3


def test_bench_rejects_an_unknown_setting(tiny_archive, tmp_path):
    with pytest.raises(ValueError, match="unknown setting 'speed'"):
        parse_setting("speed=11", "cpu")


def test_the_kernel_timings_name_each_build_and_its_share_of_the_matrix_product_peak(capsys):
    assert run_command("bench", ["--kernels", "native"]) == 0
    table = capsys.readouterr().out
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| native |")]
    assert [row[2].strip() for row in rows] == ["rnn", "lstm", "gru"]
    for row in rows:
        forward_ms, forward_gflops = float(row[3]), float(row[4])
        gflop = 2 * 500 * 128 * {"rnn": 1, "lstm": 4, "gru": 3}[row[2].strip()] * 32**2 / 1e9
        assert forward_ms > 0 and abs(forward_gflops - gflop / forward_ms * 1e3) <= 0.5 + 0.01 * forward_gflops


def test_a_target_the_compiler_refuses_is_one_line(capsys):
    assert run_command("bench", ["--kernels", "no-such-cpu"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the notice that a build starts
    assert "cannot build the recurrences for ['no-such-cpu']" in error and "no-such-cpu" in error.split(":", 2)[2]
