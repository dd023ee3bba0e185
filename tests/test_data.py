import dataclasses
import io
import json
import os
import re
import shutil
import socket
import tarfile

import numpy as np
import pytest
import torch

from rnn_lightning.data.archive import UnsafeArchiveError, safe_extract
from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.data.sources import is_labeled_review, iter_split
from rnn_lightning.data.spec import TextSpec
from rnn_lightning.data.text import OOV_ID, START_ID

from .conftest import REAL_ARCHIVE, add_file, make_datamodule, split_labels, write_tiny_archive


def test_split_sizes_shapes_and_dtypes(tiny_datamodule):
    # 80 training reviews split 80/20; the 80 test reviews stay whole.
    assert (len(tiny_datamodule.train_set), len(tiny_datamodule.val_set), len(tiny_datamodule.test_set)) == (64, 16, 80)
    ids, labels = next(iter(tiny_datamodule.train_dataloader()))
    assert ids.shape == (16, 24) and ids.dtype == torch.int32
    assert labels.shape == (16,) and labels.dtype == torch.float32
    assert int(ids.max()) < 30 and set(labels.tolist()) <= {0.0, 1.0}


def test_reviews_are_front_padded_or_cut_to_their_end(tiny_datamodule):
    padded = truncated = 0
    for index in range(80):
        ids, _ = tiny_datamodule.review(index)
        if ids[0] == 0:  # short review: zeros, then the start id, then words
            first_real = int(np.flatnonzero(ids)[0])
            assert ids[first_real] == START_ID and (ids[first_real + 1:] != 0).all()
            padded += 1
        elif ids[0] != START_ID:  # long review: its start was cut, so the start id is gone
            assert START_ID not in ids.tolist()
            truncated += 1
    assert padded and truncated  # the tiny archive exercises both cases


def test_split_is_seeded_and_reproducible(tiny_archive, tmp_path, tiny_datamodule):
    again = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path / "data"), num_words=30, maxlen=24)
    again.setup("fit")
    assert torch.equal(again.val_set.tensors[0], tiny_datamodule.val_set.tensors[0])
    other = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path / "data"), num_words=30, maxlen=24,
                           split_seed=7)
    other.setup("fit")
    assert not torch.equal(other.val_set.tensors[0], tiny_datamodule.val_set.tensors[0])


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    archive = write_tiny_archive(tmp_path / "a.tar.gz", per_class=3,
                                 extra={f"aclImdb/test/pos/99_{i}.txt": "zyzzyva " * 50 for i in range(7, 10)})
    datamodule = make_datamodule(source=str(archive), data_dir=str(tmp_path / "data"), num_words=100, maxlen=60)
    datamodule.prepare_data()
    datamodule.setup()
    assert "zyzzyva" not in datamodule.encoder.words
    ids, _ = datamodule.review(len(datamodule.test_set) - 1, "test")
    assert (ids[ids != 0][1:] == OOV_ID).all()


def test_cache_is_reused_not_rebuilt(tiny_datamodule, monkeypatch):
    cache = tiny_datamodule.cache_path()
    before = cache.stat().st_mtime_ns
    monkeypatch.setattr(TextDataModule, "_build_cache", lambda self: pytest.fail("cache was rebuilt"))
    tiny_datamodule.prepare_data()
    assert cache.stat().st_mtime_ns == before


def test_a_truncated_cache_is_rebuilt(tiny_datamodule):
    cache = tiny_datamodule.cache_path() / "x_test.npy"
    cache.write_bytes(cache.read_bytes()[:1000])
    tiny_datamodule.prepare_data()
    fresh = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings)})
    fresh.setup()
    assert len(fresh.test_set) == 80


def test_cache_is_keyed_by_text_settings(tiny_datamodule):
    changed = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings), "maxlen": 12})
    assert changed.cache_path() != tiny_datamodule.cache_path()
    changed.prepare_data()
    changed.setup()
    assert changed.train_set.tensors[0].shape[1] == 12


def test_cache_is_keyed_by_num_words(tiny_datamodule):
    assert int(tiny_datamodule.train_set.tensors[0].max()) >= 20  # the 30-word vocabulary is in use...
    smaller = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings), "num_words": 20})
    assert smaller.cache_path() != tiny_datamodule.cache_path()
    smaller.prepare_data()
    smaller.setup()
    assert int(smaller.train_set.tensors[0].max()) < 20 and len(smaller.encoder.words) == 20 - 4  # ...not here


def test_the_default_split_is_the_studys_seed_42_permutation(tiny_archive, tiny_datamodule):
    default = make_datamodule(**{key: value for key, value in dataclasses.asdict(tiny_datamodule.settings).items()
                                 if key != "split_seed"})
    default.setup()
    permutation = torch.randperm(80, generator=torch.Generator().manual_seed(42))
    x_train = torch.from_numpy(np.stack([default.review(i)[0] for i in range(80)]))
    assert torch.equal(default.val_set.tensors[0], x_train[permutation[:16]])
    assert torch.equal(default.train_set.tensors[0], x_train[permutation[16:]])


def test_training_batches_are_shuffled_from_the_shuffle_seed_and_the_epoch(tiny_datamodule):
    def first_epoch_order(**settings):
        datamodule = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings), **settings})
        datamodule.setup()
        return torch.cat([ids for ids, _ in datamodule.train_dataloader()])

    assert torch.equal(first_epoch_order(shuffle_seed=3), first_epoch_order(shuffle_seed=3))
    assert not torch.equal(first_epoch_order(shuffle_seed=3), first_epoch_order(shuffle_seed=4))
    loader = tiny_datamodule.train_dataloader()
    epoch_0 = torch.cat([ids for ids, _ in loader])
    loader.sampler.set_epoch(1)
    assert not torch.equal(torch.cat([ids for ids, _ in loader]), epoch_0)


def test_only_training_batches_are_resumable_mid_epoch(tiny_datamodule):
    from torchdata.stateful_dataloader import StatefulDataLoader

    assert isinstance(tiny_datamodule.train_dataloader(), StatefulDataLoader)
    assert not isinstance(tiny_datamodule.val_dataloader(), StatefulDataLoader)
    assert [len(ids) for ids, _ in tiny_datamodule.val_dataloader()] == [16]
    assert [len(ids) for ids, _ in tiny_datamodule.test_dataloader()] == [16] * 5


def test_worker_processes_are_kept_between_epochs(tiny_datamodule):
    one_worker = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings), "num_workers": 1})
    one_worker.setup()
    loader = one_worker.val_dataloader()
    assert loader.num_workers == 1 and loader.persistent_workers
    assert not tiny_datamodule.val_dataloader().persistent_workers  # no workers, nothing to keep


def test_length_grouped_batches_are_seeded_and_sorted_for_evaluation(tiny_datamodule):
    def grouped(**settings):
        datamodule = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings), "group_by_length": True,
                                        **settings})
        datamodule.setup()
        return datamodule

    order = [torch.cat([ids for ids, _ in grouped(shuffle_seed=seed).train_dataloader()]) for seed in (3, 3, 4)]
    assert torch.equal(order[0], order[1]) and not torch.equal(order[0], order[2])
    lengths = [int((ids != 0).sum(1).max()) for ids, _ in grouped(batch_size=4).test_dataloader()]
    assert lengths == sorted(lengths) and len(lengths) == 20  # evaluation: every review, in length order


def test_reviews_and_loaders_need_setup_first(tiny_archive, tmp_path):
    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match=r"call prepare_data\(\) and setup\(\) first"):
        datamodule.review(0)
    with pytest.raises(RuntimeError, match=r"call setup\(\) first"):
        datamodule.train_dataloader()
    with pytest.raises(RuntimeError, match=r"call prepare_data\(\) first"):
        datamodule.setup()


def test_a_split_streams_negatives_then_positives(tiny_datamodule, tmp_path):
    folder = next((tmp_path / "data").glob("extracted-*/aclImdb"))
    texts, labels = zip(*iter_split(folder, "test"), strict=True)
    assert list(labels) == [0] * 40 + [1] * 40
    first_negative = sorted((folder / "test" / "neg").iterdir())[0]
    assert texts[0] == first_negative.read_text(encoding="utf-8")


def test_the_datamodule_hands_the_model_its_vocabulary_class_names_and_lengths(tiny_datamodule, tiny_archive,
                                                                                 tmp_path):
    spec = tiny_datamodule.spec
    assert (spec.encoder, spec.label_names) == (tiny_datamodule.encoder, ("negative", "positive"))
    assert (spec.num_words, spec.encoder.maxlen, spec.num_classes) == (30, 24, 2)
    assert spec.review_words == tiny_datamodule.review_words and spec.review_words["p5"] <= spec.review_words["p95"]
    assert TextSpec.from_dict(spec.to_dict()) == spec  # plain values both ways: what a checkpoint holds
    with pytest.raises(RuntimeError, match="call prepare_data"):
        _ = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path)).spec  # not set up yet


@pytest.mark.parametrize("setting, message", [
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"maxlen": 0}, "maxlen must be at least 1"),
    ({"num_words": 4}, "num_words must be larger than 4"),
    ({"val_fraction": 1.0}, r"val_fraction must be in \(0, 1\), got 1.0"),
    ({"num_workers": -1}, "num_workers must be at least 0"),
])
def test_impossible_settings_are_refused_before_anything_is_touched(tmp_path, setting, message):
    with pytest.raises(ValueError, match=message):
        make_datamodule(source=str(tmp_path / "missing.tar.gz"), data_dir=str(tmp_path / "data"), **setting)
    assert not (tmp_path / "data").exists()


def test_extracted_folder_is_accepted_as_source(tiny_archive, tmp_path):
    folder = safe_extract(tiny_archive, tmp_path / "unpacked")
    datamodule = make_datamodule(source=str(folder), data_dir=str(tmp_path / "data"), num_words=30, maxlen=24)
    datamodule.prepare_data()
    datamodule.setup()
    assert len(datamodule.train_set) + len(datamodule.val_set) == 80


def test_source_and_offline_mode_can_come_from_the_environment(tiny_archive, tmp_path, monkeypatch):
    from rnn_lightning.cli.main import build_parser

    monkeypatch.setenv("IMDB_SOURCE", str(tiny_archive))
    monkeypatch.setenv("IMDB_OFFLINE", "1")
    settings = build_parser().parse_args(["fit"]).fit.data
    assert (settings.source, settings.offline) == (str(tiny_archive), True)
    monkeypatch.setenv("IMDB_OFFLINE", "0")
    assert build_parser().parse_args(["fit"]).fit.data.offline is False


def test_extraction_writes_only_labeled_reviews(tiny_datamodule, tmp_path):
    extracted = next((tmp_path / "data").glob("extracted-*/aclImdb"))
    assert not (extracted / "train" / "unsup").exists()
    assert len(list((extracted / "train" / "pos").glob("*.txt"))) == 40


def test_a_folder_without_the_official_layout_is_refused(tmp_path):
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="not an aclImdb folder"):
        next(iter_split(tmp_path / "aclImdb", "train"))


def test_offline_mode_reuses_an_archive_downloaded_before(tiny_archive, tmp_path):
    shutil.copy(tiny_archive, tmp_path / "aclImdb_v1.tar.gz")  # where the download would have put it
    datamodule = make_datamodule(source="https://example.invalid/aclImdb_v1.tar.gz", data_dir=str(tmp_path),
                                 num_words=30, maxlen=24, offline=True)
    datamodule.prepare_data()  # nothing extracted or encoded yet: it must come from that archive
    datamodule.setup()
    assert len(datamodule.test_set) == 80


def test_offline_mode_names_what_to_set(tmp_path):
    datamodule = make_datamodule(source="https://example.invalid/aclImdb_v1.tar.gz", data_dir=str(tmp_path),
                                 offline=True)
    with pytest.raises(FileNotFoundError, match="--data-source"):
        datamodule.prepare_data()


def _hostile_archive(path, member):
    with tarfile.open(path, "w:gz") as tar:
        add_file(tar, "aclImdb/train/pos/0_9.txt", "fine")
        tar.addfile(member, io.BytesIO(b"evil") if member.isreg() else None)
    return path


@pytest.mark.parametrize("name, kind, message", [
    ("../evil.txt", tarfile.REGTYPE, "path escaping the archive"),
    ("/tmp/evil.txt", tarfile.REGTYPE, "absolute path in archive"),
    ("\\evil.txt", tarfile.REGTYPE, "absolute path in archive"),
    ("C:evil.txt", tarfile.REGTYPE, "absolute path in archive"),
    ("aclImdb/../../evil.txt", tarfile.REGTYPE, "path escaping the archive"),
    ("aclImdb\\..\\evil.txt", tarfile.REGTYPE, "path escaping the archive"),
    ("aclImdb_evil/evil.txt", tarfile.REGTYPE, "member outside aclImdb/"),
    ("aclImdb/train/pos/link.txt", tarfile.SYMTYPE, "not a regular file or folder"),
    ("aclImdb/train/pos/hard.txt", tarfile.LNKTYPE, "not a regular file or folder"),
    ("aclImdb/train/pos/dev", tarfile.CHRTYPE, "not a regular file or folder"),
])
def test_hostile_members_are_refused_before_anything_is_written(tmp_path, name, kind, message):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.size = 4 if kind == tarfile.REGTYPE else 0
    member.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    archive = _hostile_archive(tmp_path / "hostile.tar.gz", member)
    target = tmp_path / "out" / "deep"
    with pytest.raises(UnsafeArchiveError, match=f"{message}.*{re.escape(repr(name))}"):
        safe_extract(archive, target)
    assert sorted(os.listdir(tmp_path)) == ["hostile.tar.gz", "out"]
    assert list(target.iterdir()) == []


def test_a_flood_of_members_that_are_not_kept_still_counts(tmp_path):
    archive = tmp_path / "flood.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "aclImdb/train/pos/0_9.txt", "fine")
        for i in range(30):
            folder = tarfile.TarInfo(f"aclImdb/folder{i}")
            folder.type = tarfile.DIRTYPE
            tar.addfile(folder)
            add_file(tar, f"aclImdb/train/unsup/{i}_0.txt", "skipped, but read")
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="more than 20 members"):
        safe_extract(archive, target, keep=is_labeled_review, max_members=20)
    with pytest.raises(UnsafeArchiveError, match="more than 60 members"):
        safe_extract(archive, target, keep=is_labeled_review, max_members=60)
    assert list(target.iterdir()) == []
    assert safe_extract(archive, target, keep=is_labeled_review, max_members=61).is_dir()  # 61 members: accepted


def test_archive_bombs_are_capped(tiny_archive, tmp_path):
    with pytest.raises(UnsafeArchiveError, match="more than 10 members"):
        safe_extract(tiny_archive, tmp_path, max_members=10)
    with pytest.raises(UnsafeArchiveError, match="more than 100 bytes"):
        safe_extract(tiny_archive, tmp_path, max_total_bytes=100)


def test_the_size_cap_adds_up_every_file_exactly(tiny_archive, tmp_path):
    with tarfile.open(tiny_archive) as tar:
        total = sum(member.size for member in tar if member.isreg())
    with pytest.raises(UnsafeArchiveError, match=f"more than {total - 1} bytes"):
        safe_extract(tiny_archive, tmp_path / "a", max_total_bytes=total - 1)
    assert safe_extract(tiny_archive, tmp_path / "b", max_total_bytes=total).is_dir()


def test_extracting_again_replaces_the_folder_and_leaves_no_staging_behind(tiny_archive, tmp_path):
    first = safe_extract(tiny_archive, tmp_path, keep=is_labeled_review)
    (first / "stale.txt").write_text("from an earlier extraction")
    again = safe_extract(tiny_archive, tmp_path, keep=is_labeled_review)
    assert again == first and not (again / "stale.txt").exists()
    assert os.listdir(tmp_path) == ["aclImdb"]  # the staging folder is gone
    assert len(list(again.glob("*/*/*.txt"))) == 160


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"real archive not found at {REAL_ARCHIVE}")
def test_real_archive_has_25000_balanced_reviews_per_split(tmp_path):
    datamodule = make_datamodule(source=str(REAL_ARCHIVE), data_dir=str(tmp_path))
    datamodule.prepare_data()
    datamodule.setup()
    assert (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)) == (20_000, 5_000, 25_000)
    for split in ("train", "test"):
        labels = split_labels(datamodule, split)
        assert len(labels) == 25_000 and int(labels.sum()) == 12_500
    assert datamodule.encoder.words[:3] == ("the", "and", "a")
    assert len(datamodule.encoder.words) == 10_000 - 4


def _damaged_copy(tiny_datamodule, tmp_path, damage):
    """A copy of the tiny cache folder with one array (or its metadata) damaged."""
    copy = tmp_path / "damaged"
    shutil.copytree(tiny_datamodule.cache_path(), copy)
    arrays = {path.stem: np.load(path) for path in copy.glob("*.npy")}
    meta = json.loads((copy / "meta.json").read_text())
    damage(arrays, meta)
    for path in copy.glob("*.npy"):
        path.unlink()
    for name, array in arrays.items():
        np.save(copy / f"{name}.npy", array)
    (copy / "meta.json").write_text(json.dumps(meta))
    return copy


@pytest.mark.parametrize("damage", [
    lambda a, m: a.update(x_train=a["x_train"][:, :-1]),  # another maxlen
    lambda a, m: a.update(x_train=a["x_train"][0]),  # not a table
    lambda a, m: a.update(y_train=a["y_train"][:-1]),  # a label missing
    lambda a, m: a.update(x_test=a["x_test"][:0], y_test=a["y_test"][:0]) or m["rows"].update(test=0),  # no reviews
    lambda a, m: a.update(x_test=np.where(a["x_test"] == 5, 30, a["x_test"])),  # an id past num_words
    lambda a, m: a.update(x_test=np.where(a["x_test"] == 5, -1, a["x_test"])),  # a negative id
    lambda a, m: a.update(x_test=a["x_test"].astype(np.int64)),  # ids of another type
    lambda a, m: a.update(y_test=np.where(a["y_test"] == 1, 2, a["y_test"])),  # a label past the classes
    lambda a, m: a.update(y_test=np.where(a["y_test"] == 1, -1, a["y_test"])),  # a negative label
    lambda a, m: m.update(words=["w"] * 31),  # more words than num_words
    lambda a, m: m.update(label_names=["only"]),  # fewer than two classes
    lambda a, m: m["rows"].pop("train"),  # no training split
    lambda a, m: m["rows"].update(train=79),  # row count and arrays disagree
    lambda a, m: m["settings"].update(maxlen=25),  # made with other settings
    lambda a, m: a.pop("y_test"),
    lambda a, m: m.pop("skipped_rows"),
])
def test_a_cache_that_does_not_hold_what_its_settings_promise_is_rejected(tiny_datamodule, tmp_path, damage):
    from rnn_lightning.data.datamodule import EncodedCache

    settings = tiny_datamodule._cache_settings()
    assert EncodedCache.load(_damaged_copy(tiny_datamodule, tmp_path / "intact", lambda a, m: None), settings)
    assert EncodedCache.load(_damaged_copy(tiny_datamodule, tmp_path, damage), settings) is None


def test_the_cache_is_memory_mapped_not_read_into_memory(tiny_datamodule):
    assert isinstance(tiny_datamodule.train_set.ids, np.memmap)
    assert str(tiny_datamodule.train_set.ids.filename) == str(tiny_datamodule.cache_path() / "x_train.npy")
    assert isinstance(tiny_datamodule.test_set.ids, np.memmap)


def test_each_source_gets_its_own_extraction_reused_until_the_cache_is_gone(tiny_archive, tmp_path, monkeypatch):
    other = write_tiny_archive(tmp_path / "other.tar.gz", per_class=5, seed=1)
    data_dir = tmp_path / "deep" / "data"  # created with its parents
    first = make_datamodule(source=str(tiny_archive), data_dir=str(data_dir), num_words=30, maxlen=24)
    second = make_datamodule(source=str(other), data_dir=str(data_dir), num_words=30, maxlen=24)
    for datamodule in (first, second):
        datamodule.prepare_data()
        datamodule.setup()
    assert (len(first.test_set), len(second.test_set)) == (80, 10)
    assert len(list(data_dir.glob("extracted-*/aclImdb"))) == 2
    shutil.rmtree(first.cache_path())
    monkeypatch.setattr("rnn_lightning.data.sources.safe_extract", lambda *a, **k: pytest.fail("extracted again"))
    make_datamodule(source=str(tiny_archive), data_dir=str(data_dir), num_words=30, maxlen=24).prepare_data()


@pytest.mark.parametrize("source, is_a_url", [("https://host/a.tar.gz", True), ("http://host/a", True),
                                              ("ftp://host/a.tar.gz", True), ("file:///tmp/a.tar.gz", True),
                                              ("/tmp/a.tar.gz", False), ("data/aclImdb", False)])
def test_urls_are_told_from_local_paths(source, is_a_url):
    from rnn_lightning.data.sources import is_url

    assert is_url(source) is is_a_url


def test_a_download_is_named_after_the_url(tmp_path):
    from rnn_lightning.data.sources import IMDBSource

    assert IMDBSource("https://host/path/x.tar.gz", tmp_path).download_target() == tmp_path / "x.tar.gz"
    assert IMDBSource("https://host/", tmp_path).download_target() == tmp_path / "aclImdb_v1.tar.gz"


def test_without_offline_mode_a_download_is_tried(tmp_path, monkeypatch):
    from rnn_lightning.data.download import DownloadError

    monkeypatch.setattr("rnn_lightning.data.download.time.sleep", lambda seconds: None)
    with socket.socket() as probe:  # a port nothing listens on: the download is tried, and refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    datamodule = make_datamodule(source=f"http://127.0.0.1:{port}/a.tar.gz", data_dir=str(tmp_path))
    with pytest.raises(DownloadError, match="after 3 attempt"):
        datamodule.prepare_data()


def test_review_lengths_count_the_words_the_model_sees():
    from rnn_lightning.data.datamodule import word_count_percentiles, words_seen

    # Words per row: 2 and 3 (padded), 6 (truncated: its start id was cut), then 1 to 5, four times each.
    rows = [[0, 0, 0, 1, 7, 8], [0, 0, 1, 7, 8, 9], [7, 8, 9, 9, 9, 9]]
    rows += [[0] * (5 - n) + [1] + [7] * n for n in range(1, 6)] * 4
    words = torch.tensor([2, 3, 6] + [n for n in range(1, 6)] * 4).float()
    expected = torch.quantile(words, torch.tensor([0.05, 0.5, 0.95])).round().int().tolist()
    expected = dict(zip(("p5", "median", "p95"), expected, strict=True))
    assert word_count_percentiles(words_seen(torch.tensor(rows))) == expected
    assert word_count_percentiles(words_seen(torch.tensor(rows[:3] * 3)))["median"] == 3


def test_the_datamodule_records_its_training_lengths(tiny_datamodule):
    from rnn_lightning.data.datamodule import word_count_percentiles, words_seen

    assert tiny_datamodule.review_words == word_count_percentiles(words_seen(tiny_datamodule.train_set.tensors[0]))
    assert tiny_datamodule.spec.review_words == tiny_datamodule.review_words


def test_each_rank_gets_its_own_share_of_every_split(tiny_datamodule):
    from types import SimpleNamespace

    def rows(datamodule, loader):
        return {tuple(row.tolist()) for ids, _ in getattr(datamodule, loader)() for row in ids}

    for group_by_length in (False, True):
        shares = []
        for rank in (0, 1):
            datamodule = make_datamodule(**{**dataclasses.asdict(tiny_datamodule.settings),
                                            "group_by_length": group_by_length, "batch_size": 4})
            datamodule.setup()
            datamodule.trainer = SimpleNamespace(world_size=2, global_rank=rank)  # as a DDP Trainer would say
            shares.append({loader: rows(datamodule, loader) for loader in ("train_dataloader", "val_dataloader")})
        for loader, split in (("train_dataloader", tiny_datamodule.train_set), ("val_dataloader",
                                                                                tiny_datamodule.val_set)):
            everything = {tuple(row.tolist()) for row in split.tensors[0]}
            assert shares[0][loader] | shares[1][loader] == everything, (loader, group_by_length)
            assert len(shares[0][loader]) < len(everything) and len(shares[1][loader]) < len(everything)


def test_the_smallest_settings_that_can_work_are_accepted(tiny_archive, tmp_path):
    edge = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path / "data"), num_words=5,
                           maxlen=1, batch_size=1, val_fraction=0.001, num_workers=0)
    assert (edge.settings.num_words, edge.settings.maxlen, edge.settings.batch_size) == (5, 1, 1)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 0.0"):
        make_datamodule(source=str(tiny_archive), val_fraction=0.0)
