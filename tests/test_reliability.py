"""Failure handling: nothing bad downloaded, extracted, trained or loaded is ever kept or run."""

import dataclasses
import errno
import hashlib
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.download import DownloadError, download, file_digest
from rnn_lightning.data.sources import KNOWN_MD5
from rnn_lightning.fileio import WriteError
from rnn_lightning.models.saved import CheckpointError, find_last_checkpoint, read_checkpoint
from rnn_lightning.serving.inference import load_model
from rnn_lightning.settings import ModelSettings, OptimizerSettings
from rnn_lightning.training.callbacks import NonFiniteError
from rnn_lightning.training.checkpoints import AtomicCheckpointIO
from rnn_lightning.training.module import TextClassifier

from .conftest import make_classifier, make_datamodule, run_fit
from .http_server import MisbehavingServer

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[1]
QUIET = {"accelerator": "cpu", "enable_progress_bar": False}


@pytest.fixture()
def server(tiny_archive):
    with MisbehavingServer(stall_s=3.0) as running:
        running.files["/aclImdb_v1.tar.gz"] = tiny_archive.read_bytes()
        yield running


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------------------------ downloads
def test_download_publishes_verified_bytes_only(server, tmp_path):
    body = server.files["/aclImdb_v1.tar.gz"]
    target = download(server.url("/aclImdb_v1.tar.gz"), tmp_path / "a.tar.gz", md5(body), backoff=0)
    assert target.read_bytes() == body and os.listdir(tmp_path) == ["a.tar.gz"]


@pytest.mark.parametrize("behaviour, expected", [("truncate", "truncated"), ("ok", "checksum mismatch")])
def test_bad_transfers_fail_after_retries_and_keep_the_previous_copy(server, tmp_path, behaviour, expected):
    server.behaviour["/aclImdb_v1.tar.gz"] = behaviour
    target = tmp_path / "a.tar.gz"
    target.write_bytes(b"previous good copy")
    wanted = "0" * 32 if behaviour == "ok" else md5(server.files["/aclImdb_v1.tar.gz"])
    with pytest.raises(DownloadError, match=expected) as error:
        download(server.url("/aclImdb_v1.tar.gz"), target, wanted, retries=3, backoff=0)
    if behaviour == "ok":  # the message names both digests
        assert f"expected md5 {wanted}, got {md5(server.files['/aclImdb_v1.tar.gz'])}" in str(error.value)
    assert server.requests["/aclImdb_v1.tar.gz"] == 3
    assert target.read_bytes() == b"previous good copy" and os.listdir(tmp_path) == ["a.tar.gz"]


def test_a_stalled_server_times_out_instead_of_hanging(server, tmp_path):
    server.behaviour["/aclImdb_v1.tar.gz"] = "stall"
    started = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        download(server.url("/aclImdb_v1.tar.gz"), tmp_path / "a.tar.gz", timeout=0.5, retries=1)
    assert time.monotonic() - started < 2.5 and not os.listdir(tmp_path)


def test_file_digests_cover_the_whole_file(tmp_path):
    data = os.urandom(3 << 20)  # three read chunks
    (tmp_path / "blob").write_bytes(data)
    assert file_digest(tmp_path / "blob") == hashlib.sha256(data).hexdigest()
    assert file_digest(tmp_path / "blob", "md5") == md5(data)


def test_a_passing_failure_is_retried(server, tmp_path):
    server.behaviour["/aclImdb_v1.tar.gz"] = "fail-once"
    download(server.url("/aclImdb_v1.tar.gz"), tmp_path / "nested" / "a.tar.gz", retries=2, backoff=0)
    assert server.requests["/aclImdb_v1.tar.gz"] == 2 and (tmp_path / "nested" / "a.tar.gz").is_file()


def test_retries_back_off_exponentially_and_one_attempt_means_one(server, tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr("rnn_lightning.data.download.time.sleep", slept.append)
    server.behaviour["/aclImdb_v1.tar.gz"] = "truncate"
    with pytest.raises(DownloadError, match="after 3 attempt"):
        download(server.url("/aclImdb_v1.tar.gz"), tmp_path / "a.tar.gz", retries=3, backoff=0.5)
    assert slept == [0.5, 1.0] and server.requests["/aclImdb_v1.tar.gz"] == 3
    with pytest.raises(DownloadError, match="after 1 attempt"):
        download(server.url("/aclImdb_v1.tar.gz"), tmp_path / "a.tar.gz", retries=1)
    assert server.requests["/aclImdb_v1.tar.gz"] == 4 and slept == [0.5, 1.0]


def test_datamodule_downloads_once_then_works_offline(server, tmp_path, monkeypatch):
    url = server.url("/aclImdb_v1.tar.gz")
    first = make_datamodule(source=url, data_dir=str(tmp_path), num_words=30, maxlen=24)
    first.prepare_data()
    for path in tmp_path.glob("imdb-encoded-*"):
        shutil.rmtree(path)  # force a rebuild: it must come from the downloaded archive, not the network
    second = make_datamodule(source=url, data_dir=str(tmp_path), num_words=30, maxlen=24, offline=True)
    second.prepare_data()
    second.setup()
    assert server.requests[("/aclImdb_v1.tar.gz")] == 1 and len(second.test_set) == 80


def test_a_known_url_must_match_its_published_md5(server, tmp_path, monkeypatch):
    url = server.url("/aclImdb_v1.tar.gz")
    body = server.files["/aclImdb_v1.tar.gz"]
    monkeypatch.setattr("rnn_lightning.data.download.time.sleep", lambda seconds: None)  # no backoff between retries
    monkeypatch.setitem(KNOWN_MD5, url, "0" * 32)
    datamodule = make_datamodule(source=url, data_dir=str(tmp_path), num_words=30, maxlen=24)
    with pytest.raises(DownloadError, match=f"expected md5 {'0' * 32}, got {md5(body)}"):
        datamodule.prepare_data()
    assert sorted(path.name for path in tmp_path.iterdir()) == [".prepare.lock"]  # nothing kept

    target = tmp_path / "aclImdb_v1.tar.gz"
    target.write_bytes(b"a stale, partial copy")  # does not match the published md5: fetched again
    monkeypatch.setitem(KNOWN_MD5, url, md5(body))
    datamodule.prepare_data()
    assert target.read_bytes() == body and server.requests["/aclImdb_v1.tar.gz"] == 4


def test_two_processes_preparing_at_once_download_and_extract_once(server, tmp_path):
    code = ("import sys; from rnn_lightning.data.datamodule import TextDataModule; "
            "from rnn_lightning.settings import DataSettings; "
            "TextDataModule(DataSettings(source=sys.argv[1], data_dir=sys.argv[2], num_words=30, maxlen=24))"
            ".prepare_data()")
    url = server.url("/aclImdb_v1.tar.gz")
    processes = [subprocess.Popen([sys.executable, "-c", code, url, str(tmp_path)]) for _ in range(2)]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    assert server.requests["/aclImdb_v1.tar.gz"] == 1
    assert len(list(tmp_path.glob("extracted-*/aclImdb"))) == 1 and len(list(tmp_path.glob("imdb-encoded-*"))) == 1
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.glob("extracted-*/.aclImdb.*"))
    for _ in range(2):  # both processes' view: the same valid cache
        datamodule = make_datamodule(source=url, data_dir=str(tmp_path), num_words=30, maxlen=24)
        datamodule.setup()
        assert len(datamodule.test_set) == 80


# ---------------------------------------------------------------------------------------------------- cache
def test_a_corrupt_cache_is_rebuilt_and_a_tokenizer_change_rebuilds(tiny_datamodule, monkeypatch):
    cache = tiny_datamodule.cache_path()
    for damaged in (cache / "x_train.npy", cache / "meta.json"):
        damaged.write_bytes(os.urandom(damaged.stat().st_size))
    tiny_datamodule.prepare_data()
    make_datamodule(**dataclasses.asdict(tiny_datamodule.settings)).setup()  # loads: the cache was rebuilt
    monkeypatch.setattr("rnn_lightning.data.datamodule.TOKENIZER_VERSION", 99)
    assert make_datamodule(**dataclasses.asdict(tiny_datamodule.settings)).cache_path() != cache


# --------------------------------------------------------------------------------------------- training path
def fit_cli(tiny_archive: Path, tmp_path: Path, *extra: str, **popen: object) -> subprocess.Popen:
    args = ["--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"), "--logdir",
            str(tmp_path / "logs"), "--num-words", "30", "--maxlen", "24", "--batch-size", "8", "--accelerator", "cpu",
            *extra]
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "fit.py"), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **popen)


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_at_several_moments_then_resume(tiny_archive, tmp_path):
    checkpoints = tmp_path / "logs" / "version_0" / "checkpoints"
    last = checkpoints / "last.ckpt"
    for delay in (0.0, 0.4, 1.1):
        written = last.stat().st_mtime_ns if last.exists() else 0
        process = fit_cli(tiny_archive, tmp_path, "--max-epochs", "1000", *(["--ckpt-path", "last"] if written else []))
        wait_for(lambda since=written: last.exists() and last.stat().st_mtime_ns > since)  # this run is saving
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in checkpoints.glob("*.ckpt"):
            assert read_checkpoint(path)["state_dict"]  # every file on disk loads with weights_only=True
    step = read_checkpoint(last)["global_step"]
    steps_per_epoch = 8  # 64 training reviews in batches of 8
    target_epochs = step // steps_per_epoch + 2
    resumed = fit_cli(tiny_archive, tmp_path, "--ckpt-path", "last", "--max-epochs", str(target_epochs))
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert read_checkpoint(last)["global_step"] == steps_per_epoch * target_epochs
    assert len(list((tmp_path / "logs").glob("version_*"))) == 1  # every resume continued the same run


def test_a_kill_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path):
    checkpoints = tmp_path / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "hyper_parameters": {}},
                                         checkpoints / "last.ckpt")
    code = ("import os, signal, sys, torch; from rnn_lightning.training.checkpoints import AtomicCheckpointIO\n"
            "def dying_save(obj, out):\n"
            "    out.write(b'half a checkpoint'); out.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
            "torch.save = dying_save\n"
            "AtomicCheckpointIO().save_checkpoint({'state_dict': {}}, sys.argv[1])")
    died = subprocess.run([sys.executable, "-c", code, str(checkpoints / "last.ckpt")])
    assert died.returncode == -signal.SIGKILL
    assert list(checkpoints.glob(".last.ckpt.*.part"))  # the stray temp file of the killed write...
    last = find_last_checkpoint(tmp_path)  # ...is never picked
    assert last.name == "last.ckpt" and torch.equal(read_checkpoint(last)["state_dict"]["w"], torch.ones(3))


@pytest.mark.parametrize(("failure", "code", "reason"), [
    (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC, "No space left on device"),
    # torch.save reports a failed write as a RuntimeError of several lines, with no errno: the first line, EIO.
    (RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed\nat frame 3"), errno.EIO,
     "PytorchStreamWriter failed writing file data/0: file write failed"),
])
def test_a_failed_checkpoint_write_says_why_in_one_line_and_keeps_the_previous_file(tmp_path, monkeypatch, failure,
                                                                                    code, reason):
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"  # folders that do not exist yet are made
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "hyper_parameters": {}}, last)

    def failing_save(obj, out) -> None:
        out.write(b"half a checkpoint")
        raise failure

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(WriteError) as failed:
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, last)
    assert failed.value.errno == code
    assert failed.value.strerror == f"{reason} while writing {last} (the previous last.ckpt is kept)"
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(last)["state_dict"]["w"], torch.ones(3))
    assert [path.name for path in last.parent.iterdir()] == ["last.ckpt"]  # no temp file left behind


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_or_ctrl_c_stops_with_a_fresh_checkpoint(tiny_archive, tmp_path, signum, status):
    checkpoints = tmp_path / "logs" / "version_0" / "checkpoints"
    process = fit_cli(tiny_archive, tmp_path, "--max-epochs", "1000", "--batch-size", "2")  # 32 steps an epoch
    last = checkpoints / "last.ckpt"
    wait_for(last.exists)
    before = read_checkpoint(last)["global_step"]
    time.sleep(0.5)
    # The moment of the signal on the file system's own clock: file times come from a coarse kernel clock that
    # can lag time.time_ns() by milliseconds, so a checkpoint written just after the signal could look older.
    marker = tmp_path / "signal_sent"
    marker.touch()
    sent_ns, sent = marker.stat().st_mtime_ns, time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=30) == status
    assert time.monotonic() - sent < 10
    assert f"stopped by {signal.Signals(signum).name}" in process.stderr.read()
    # Written after the signal, when the run stopped: the steps since the last epoch end are not lost. One race
    # is allowed: an epoch ended (and saved last.ckpt) in the instant before the signal, so that Lightning, with
    # no step since, rightly does not write it again; then the file is that epoch end's, just before the signal.
    saved, step = last.stat().st_mtime_ns, read_checkpoint(last)["global_step"]
    epoch_end_just_before = step % 32 == 0 and sent_ns - saved < 100_000_000
    assert (saved >= sent_ns or epoch_end_just_before) and step > before


def _train(datamodule: TextDataModule, logdir: Path, max_epochs: int, ckpt_path: str | None = None):
    L.seed_everything(7, verbose=False)
    module = make_classifier(spec=datamodule.spec, embed_dim=8, hidden_size=8, num_layers=2)
    return run_fit(module, datamodule, logdir=str(logdir), max_epochs=max_epochs, ckpt_path=ckpt_path,
               deterministic=True, **QUIET)


@pytest.mark.slow
def test_resume_is_bitwise_equal_to_an_uninterrupted_run(tiny_datamodule, tmp_path):
    straight = read_checkpoint(_train(tiny_datamodule, tmp_path / "straight", 3).last_checkpoint)
    _train(tiny_datamodule, tmp_path / "resumed", 1)
    resumed = read_checkpoint(_train(tiny_datamodule, tmp_path / "resumed", 3, ckpt_path="last").last_checkpoint)
    assert straight["global_step"] == resumed["global_step"]
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name


class _Crash(Exception):
    pass


class _SaveThenCrashAt(L.Callback):
    def __init__(self, step: int, path: Path) -> None:
        self.step, self.path = step, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            trainer.save_checkpoint(self.path)
            raise _Crash


@pytest.mark.slow
def test_resume_from_the_middle_of_an_epoch_is_bitwise_equal(tiny_datamodule, tmp_path):
    steps_per_epoch = len(tiny_datamodule.train_dataloader())
    midway = steps_per_epoch + 2  # two batches into the second epoch
    straight = read_checkpoint(_train(tiny_datamodule, tmp_path / "straight", 3).last_checkpoint)
    L.seed_everything(7, verbose=False)
    module = make_classifier(spec=tiny_datamodule.spec, embed_dim=8, hidden_size=8, num_layers=2)
    with pytest.raises(_Crash):
        run_fit(module, tiny_datamodule, logdir=str(tmp_path / "crashed"), max_epochs=3, deterministic=True,
            callbacks=[_SaveThenCrashAt(midway, tmp_path / "mid.ckpt")], **QUIET)
    assert read_checkpoint(tmp_path / "mid.ckpt")["global_step"] == midway
    resumed = read_checkpoint(_train(tiny_datamodule, tmp_path / "resumed", 3, str(tmp_path / "mid.ckpt"))
                              .last_checkpoint)
    assert resumed["global_step"] == straight["global_step"] == 3 * steps_per_epoch
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name


@pytest.mark.slow
def test_same_seed_same_metrics(tiny_datamodule, tmp_path):
    first, second = (_train(tiny_datamodule, tmp_path / name, 2) for name in ("a", "b"))
    assert first.best_val_acc == second.best_val_acc
    weights = [read_checkpoint(run.last_checkpoint)["state_dict"] for run in (first, second)]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


@pytest.mark.parametrize("content, message", [(None, "no such checkpoint"), (b"", "is empty"),
                                              (b"\x80\x04corrupt", "not a loadable checkpoint")])
def test_a_bad_resume_checkpoint_fails_clearly_never_restarting(tiny_datamodule, tmp_path, content, message):
    path = tmp_path / "bad.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        _train(tiny_datamodule, tmp_path / "logs", 1, ckpt_path=str(path))
    assert not (tmp_path / "logs").exists()  # nothing was trained or logged


class _PoisonedAtStep5(TextClassifier):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.global_step == 5 else loss


def _all_finite(path: Path) -> bool:
    checkpoint = read_checkpoint(path)
    return all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values()) and all(
        math.isfinite(state["best_model_score"]) for key, state in checkpoint["callbacks"].items()
        if "ModelCheckpoint" in key and state.get("best_model_score") is not None)


def test_a_nan_batch_stops_the_run_before_it_reaches_a_checkpoint(tiny_datamodule, tmp_path):
    module = _PoisonedAtStep5(ModelSettings(embed_dim=8, hidden_size=8, num_layers=2), OptimizerSettings(),
                              tiny_datamodule.spec)
    with pytest.raises(NonFiniteError, match="non-finite gradient .* at step 5"):
        run_fit(module, tiny_datamodule, logdir=str(tmp_path), max_epochs=3, **QUIET)
    saved = list(tmp_path.rglob("*.ckpt"))
    assert saved and all(_all_finite(path) for path in saved)  # epoch 1 was saved, all of it finite


@pytest.mark.slow
def test_a_huge_learning_rate_stops_with_the_reason(tiny_archive, tmp_path):
    process = fit_cli(tiny_archive, tmp_path, "--max-epochs", "3", "--lr", "1e38")
    assert process.wait(timeout=120) == 1
    assert "training stopped: non-finite" in process.stderr.read()
    assert all(_all_finite(path) for path in tmp_path.rglob("*.ckpt"))


@pytest.mark.slow
def test_a_full_disk_fails_the_run_and_keeps_last_ckpt(tiny_archive, tmp_path):
    assert fit_cli(tiny_archive, tmp_path, "--max-epochs", "1").wait(timeout=120) == 0
    last = tmp_path / "logs" / "version_0" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    limit_kib = len(before) // 1024 // 2  # room for logs, not for a checkpoint
    process = fit_cli(tiny_archive, tmp_path, "--max-epochs", "3", "--ckpt-path", "last",
                      preexec_fn=lambda: __import__("resource").setrlimit(
                          __import__("resource").RLIMIT_FSIZE, (limit_kib * 1024, limit_kib * 1024)))
    assert process.wait(timeout=120) == 1
    error = process.stderr.read().strip().splitlines()[-1]
    assert error == f"fit.py: error: File too large while writing {last} (the previous last.ckpt is kept)"
    assert last.read_bytes() == before and read_checkpoint(last)["epoch"] == 0
    assert not list(last.parent.glob("*.part")) and not list(last.parent.glob(".*.part"))


@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MB file system of its own (tmpfs), for a disk that fills up; skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_while_the_cache_is_encoded_ends_in_one_line_and_leaves_nothing(tiny_archive, small_disk):
    # 80 reviews of 10,000 ids: 3.2 MB of cache for a 2 MB disk. Written through a memory map, the pages that
    # find no room would kill the process with SIGBUS; the space is reserved first instead.
    data = small_disk / "data"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "inspect_data.py"), "--data-source",
                             str(tiny_archive), "--data-dir", str(data), "--maxlen", "10000"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"inspect_data.py: error: No space left on device while writing the data in {data}"]
    assert not [path.name for path in data.iterdir() if path.name.startswith(".") and path.name != ".prepare.lock"]
    assert not list(data.glob("*-encoded-*"))


def test_a_write_error_says_what_was_being_written_and_keeps_the_reason_and_errno():
    full = WriteError.of(OSError(errno.ENOSPC, "No space left on device"), "the data in data/")
    assert isinstance(full, OSError) and full.errno == errno.ENOSPC
    assert full.strerror == "No space left on device while writing the data in data/"
    bare = WriteError.of(OSError("quota exceeded"), "config.yaml")  # no errno nor reason of its own: its message
    assert (bare.errno, bare.strerror) == (None, "quota exceeded while writing config.yaml")


def test_what_a_killed_process_left_half_written_is_cleared_before_preparing(tiny_datamodule):
    data_dir = tiny_datamodule.data_dir
    leftovers = [data_dir / ".imdb-encoded-0123456789abcdef.x1y2", data_dir / ".corpus-encoded-fedcba.z9",
                 next(data_dir.glob("extracted-*")) / ".aclImdb.k3j4.extracting"]
    for folder in leftovers:
        (folder / "aclImdb").mkdir(parents=True)
    (data_dir / ".aclImdb_v1.tar.gz.abc.part").write_bytes(b"half a download")
    kept = sorted(path.name for path in data_dir.iterdir() if not path.name.startswith("."))
    tiny_datamodule.prepare_data()
    assert not [path for path in leftovers if path.exists()] and not list(data_dir.glob(".*.part"))
    assert sorted(path.name for path in data_dir.iterdir() if not path.name.startswith(".")) == kept


# ----------------------------------------------------------------------------------------- checkpoint trust
class _Payload:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_a_pickle_payload_is_refused_and_never_runs(tiny_run, tiny_archive, tmp_path):
    sentinel = tmp_path / "pwned"
    checkpoint = torch.load(tiny_run[1].last_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"]["cell"] = _Payload(sentinel)
    path = tmp_path / "evil.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load_model(path)
    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path))
    with pytest.raises(CheckpointError):
        run_fit(make_classifier(), datamodule, logdir=str(tmp_path / "logs"), ckpt_path=str(path), **QUIET)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "predict.py"), "--ckpt", str(path), "good"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not sentinel.exists()


def test_an_instantiator_entry_is_refused_and_never_runs(tiny_run, tmp_path):
    sentinel = tmp_path / "pwned"
    checkpoint = torch.load(tiny_run[1].last_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"]["_instantiator"] = "os.system"
    checkpoint["hyper_parameters"]["_class_path"] = f"touch {sentinel}"
    path = tmp_path / "evil.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="names a callable to build the model"):
        load_model(path)
    with pytest.raises(ValueError, match="allowlist"):  # Lightning's own loader refuses it too
        TextClassifier.load_from_checkpoint(path, weights_only=True)
    assert not sentinel.exists()


def test_an_unreachable_source_says_how_to_use_a_local_copy(tmp_path):
    closed = MisbehavingServer()
    unused_port = closed.server.server_address[1]
    closed.server.server_close()  # nothing listens there now: connections are refused at once
    datamodule = make_datamodule(source=f"http://127.0.0.1:{unused_port}/aclImdb_v1.tar.gz", data_dir=str(tmp_path))
    with pytest.raises(DownloadError, match="pass --data-source or set IMDB_SOURCE"):
        datamodule.prepare_data()
