import csv

import pytest

from rnn_lightning.data.corpus import CorpusSource
from rnn_lightning.data.folds import write_folds

from .conftest import run_command

# Fields a CSV writer must quote: commas, quotes, a line break inside a text.
TEXTS = [f"text {i}, with \"quotes\"" if i % 3 == 0 else f"line {i}\nand more" if i % 3 == 1 else f"plain {i}"
         for i in range(23)]


def _write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def _read(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_each_row_is_held_out_once_and_trained_on_in_every_other_fold(tmp_path):
    rows = [[text, str(i % 4)] for i, text in enumerate(TEXTS)]
    _write(tmp_path / "train.csv", rows)
    (tmp_path / "classes.txt").write_text("world\nsports\nbusiness\ntech\n")
    folders = write_folds(tmp_path / "train.csv", tmp_path / "folds", folds=4, seed=1)
    assert [folder.name for folder in folders] == ["fold_0", "fold_1", "fold_2", "fold_3"]
    held_out = [_read(folder / "dev.csv") for folder in folders]
    assert sorted(row for fold in held_out for row in fold) == sorted(rows)  # each row once, fields intact
    assert sorted(len(fold) for fold in held_out) == [5, 6, 6, 6]
    for folder, own in zip(folders, held_out, strict=True):
        trained = _read(folder / "train.csv")
        assert sorted(trained + own) == sorted(rows) and not any(row in own for row in trained)
        assert (folder / "classes.txt").read_text() == "world\nsports\nbusiness\ntech\n"
    # Shuffled, not cut in file order, and the same shuffle for the same seed.
    assert held_out[0] != rows[0::4]
    again = write_folds(tmp_path / "train.csv", tmp_path / "again", folds=4, seed=1)
    assert _read(again[2] / "dev.csv") == held_out[2]


def test_a_fold_reads_as_a_collection_with_a_validation_split_and_the_class_names(tmp_path):
    # TSV as GLUE writes it: unquoted, so a quote is text (and a line is a row).
    texts = [f'"{i}" said one, then "no' if i % 2 else f"line {i}" for i in range(23)]
    lines = ["label\tsentence", *(f"{i % 2}\t{text}" for i, text in enumerate(texts))]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "classes.txt").write_text("negative\npositive\n")
    fold = write_folds(tmp_path / "train.tsv", tmp_path / "folds", folds=3, header=True)[1]
    written = [(fold / name).read_text().splitlines() for name in ("train.tsv", "dev.tsv")]
    assert all(part[0] == lines[0] for part in written)  # the header heads every file
    assert sorted(written[0][1:] + written[1][1:]) == sorted(lines[1:])  # lines as they were
    source = CorpusSource(fold)
    assert set(source.splits) == {"train", "val"} and source.label_names == ("negative", "positive")
    read = [text for split in ("train", "val") for text, _ in source.rows(split)]
    assert sorted(read) == sorted(texts)


@pytest.mark.parametrize("name, folds, message", [
    ("train.csv", 1, "at least 2"), ("train.csv", 30, "23 row"), ("train.jsonl", 5, "a .csv or .tsv file")])
def test_folds_refuse_what_they_cannot_make(tmp_path, name, folds, message):
    _write(tmp_path / name, [[text, "0"] for text in TEXTS])
    with pytest.raises(ValueError, match=message):
        write_folds(tmp_path / name, tmp_path / "folds", folds=folds)
    assert not (tmp_path / "folds").exists()  # refused before anything is written


def test_the_subcommand_writes_the_folds_and_names_them(tmp_path, capsys):
    _write(tmp_path / "train.csv", [[text, "1"] for text in TEXTS])
    assert run_command("folds", [str(tmp_path / "train.csv"), "--out", str(tmp_path / "f"), "--folds", "2"]) == 0
    assert capsys.readouterr().out.count("--data.source") == 2 and (tmp_path / "f" / "fold_1" / "dev.csv").is_file()
    assert run_command("folds", [str(tmp_path / "missing.csv"), "--out", str(tmp_path / "g")]) == 2


def test_a_byte_order_mark_is_dropped_and_undecodable_bytes_pass_through_as_they_were(tmp_path):
    lines = [f"{i % 2},review number {i}".encode() for i in range(10)]
    lines[4] = b"1,bytes \xff\xfe that are not UTF-8"  # the corpus reports this line when a fold is read
    (tmp_path / "train.csv").write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    folders = write_folds(tmp_path / "train.csv", tmp_path / "folds", folds=2)
    written = [line for folder in folders for line in (folder / "dev.csv").read_bytes().splitlines()]
    assert sorted(written) == sorted(lines)  # the first row without its BOM, the bad bytes unchanged


def test_as_many_rows_as_folds_hold_one_each_and_a_second_split_replaces_the_first(tmp_path):
    _write(tmp_path / "train.csv", [[f"review {i}", str(i % 2)] for i in range(3)])
    write_folds(tmp_path / "train.csv", tmp_path / "folds", folds=3, seed=1)
    folders = write_folds(tmp_path / "train.csv", tmp_path / "folds", folds=3, seed=2)  # over the first, as a rerun
    held_out = sorted((folder / "dev.csv").read_bytes() for folder in folders)
    assert held_out == [b"review 0,0\n", b"review 1,1\n", b"review 2,0\n"]  # one row each, one Unix line end
