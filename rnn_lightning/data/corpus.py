"""Users' own labelled texts: CSV, TSV, JSON Lines, Parquet, or a folder per label.

A :class:`CorpusSource` finds the splits of a collection (one file, a folder of ``train``/``dev``/``test``
files, or label folders), tells the text and label columns apart, and streams ``(text, class index)``
rows one at a time, so that a collection larger than memory is never read whole. A row that cannot be used
(a missing or unknown label, an empty text, a wrong number of fields, bytes that are not UTF-8, a field
past the size limit) raises :class:`BadRowError` naming its file and line, or, with ``skip_bad_rows``, is
skipped and counted per reason. Encoding and caching are :mod:`rnn_lightning.data.datamodule`'s job.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from rnn_lightning.data.columns import SAMPLE_ROWS, detect_columns, looks_like_a_header
from rnn_lightning.data.download import file_digest
from rnn_lightning.data.sources import short_digest

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# File or folder names that mark a split, in the order they are looked for.
SPLIT_NAMES = {"train": ("train", "training"), "val": ("val", "valid", "validation", "dev"), "test": ("test",)}
TEXT_NAMES = ("text", "sentence", "content", "review", "document", "body", "question", "comment", "message", "tweet",
              "utterance")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "polarity", "topic", "intent",
               "coarse_label", "fine_label")
MOST_LISTED = 10  # values a message names at most: a file's 5,000 "classes" must not become a 260 KB line
CLASS_NAMES_FILE = "classes.txt"
DEFAULT_MAX_TEXT_BYTES = 1_000_000
# Bad-row reasons, as counted with skip_bad_rows and named in errors.
MISSING_LABEL, UNKNOWN_LABEL, EMPTY_TEXT, FIELD_COUNT, NOT_UTF8, TOO_LONG, NOT_JSON = (
    "missing label", "unknown label", "empty text", "wrong number of fields", "not valid UTF-8",
    "field past the size limit", "not a JSON object")

_HEADER_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_CSV_FIELD_LIMIT = 2**31 - 1  # our own byte limit is checked per field; csv's would stop the whole file


class BadRowError(ValueError):
    """A row that cannot be used; the message names the file and line (or row) and the reason."""


@dataclass(frozen=True)
class _Record:
    """One raw row: where it is, and its text and label, or the reason it cannot be used."""

    where: str
    text: str | None = None
    label: str | None = None
    problem: str | None = None  # one of the reasons above, counted as such
    detail: str = ""


@dataclass(frozen=True)
class ReadOptions:
    """How to read the user's files.

    Attributes:
        text_column: Column (name, or 0-based index) of the text; None detects it.
        label_column: Column (name, or 0-based index) of the label; None detects it.
        header: Whether delimited files start with a header row; None detects it.
        max_text_bytes: A text longer than this (UTF-8 bytes) is a bad row.
    """

    text_column: str | None = None
    label_column: str | None = None
    header: bool | None = None
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES


def is_corpus(source: str | Path) -> bool:
    """Whether ``source`` is one of the user's own collections rather than an IMDB archive, URL or folder."""
    path = Path(source).expanduser()
    if path.is_file():
        return path.suffix.lower() in FORMATS
    return path.is_dir() and not ((path / "train" / "neg").is_dir() and (path / "train" / "pos").is_dir())


def find_splits(source: Path, val_source: Path | None = None, test_source: Path | None = None) -> dict[str, Path]:
    """The file or folder of each split: ``train`` always, ``val`` and ``test`` when the collection has them.

    A file is the training split. A folder holding ``train.*``/``dev.*``/``test.*`` files (or ``train/``,
    ``test/``... folders of label folders) gives its splits by name; any other folder is one collection of
    label folders. ``val_source``/``test_source`` name those splits explicitly.

    Raises:
        FileNotFoundError: If a path does not exist or a folder holds no training data.
    """
    for path in (source, val_source, test_source):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
    splits: dict[str, Path] = {}
    if source.is_file():
        splits["train"] = source
    else:
        for split, names in SPLIT_NAMES.items():
            for candidate in sorted(source.iterdir()):
                stem = candidate.stem.lower() if candidate.is_file() else candidate.name.lower()
                usable = candidate.suffix.lower() in FORMATS if candidate.is_file() else candidate.is_dir()
                if stem in names and usable:
                    splits[split] = candidate
                    break
        if "train" not in splits:
            if splits:
                raise FileNotFoundError(f"{source} has {sorted(splits)} split(s) but no training split (train.*)")
            splits["train"] = source  # one collection of label folders
    if val_source is not None:
        splits["val"] = val_source
    if test_source is not None:
        splits["test"] = test_source
    return splits


class CorpusSource:
    """A labelled text collection of the user's, streamed as ``(text, class index)`` rows.

    Args:
        source: A file (the training split), or a folder of split files or label folders.
        val_source: Validation split, if not found in ``source``.
        test_source: Test split, if not found in ``source``.
        labels: Class names in class order. Data labels may be these names or their indices (``0``...). None
            takes them from ``classes.txt`` beside the data, else from the training labels (sorted,
            numerically when they are all integers).
        options: Columns, header and size limit.
        skip_bad_rows: Skip and count bad rows instead of raising.
    """

    def __init__(self, source: str | Path, val_source: str | Path | None = None,
                 test_source: str | Path | None = None, labels: Sequence[str] | None = None,
                 options: ReadOptions | None = None, skip_bad_rows: bool = False) -> None:
        self.source = Path(source).expanduser()
        self.splits = find_splits(self.source, _optional_path(val_source), _optional_path(test_source))
        self.options = options or ReadOptions()
        self.skip_bad_rows = skip_bad_rows
        self._given_labels = tuple(labels) if labels else None
        if self._given_labels is not None and len(set(self._given_labels)) != len(self._given_labels):
            raise ValueError(f"labels must be distinct, got {list(self._given_labels)}")

    @functools.cached_property
    def identity(self) -> dict[str, object]:
        """What the rows depend on: each split's content (files hashed; label folders by name, size, mtime)."""
        return {split: _content_key(path) for split, path in self.splits.items()}

    @functools.cached_property
    def label_names(self) -> tuple[str, ...]:
        """Class names in class order (see the class's ``labels`` argument).

        Raises:
            ValueError: If fewer than two classes are found.
        """
        names = self._given_labels or _class_names_file(self.splits["train"])
        if names is None:
            found, rows = set(), 0
            for record in _records(self.splits["train"], self.options):
                if record.problem is None and record.label:
                    found.add(record.label)
                    rows += 1
            # Labels are few; a column with nearly as many values as rows is a text (or an id), not classes.
            if len(found) > 20 and len(found) > rows / 2:
                raise ValueError(f"{self.splits['train']}: the label column has {len(found):,} different values in "
                                 f"{rows:,} rows, so it is probably not the label: name the columns with "
                                 "--text-column and --label-column")
            names = tuple(sorted(found, key=lambda label: (0, int(label), "") if _is_int(label) else (1, 0, label)))
        if len(names) < 2:
            raise ValueError(f"{self.splits['train']} has {len(names)} class(es) {_listed(names)}: at least 2 are "
                             "needed (is --label-column the right column?)")
        return names

    def rows(self, split: str, skipped: Counter[str] | None = None) -> Iterator[tuple[str, int]]:
        """Stream the usable rows of one split as ``(text, class index)``.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"`` (one of :attr:`splits`).
            skipped: With ``skip_bad_rows``, counts the skipped rows per reason.

        Raises:
            BadRowError: Without ``skip_bad_rows``, at the first bad row.
        """
        index = {name: i for i, name in enumerate(self.label_names)}
        named = self._given_labels is not None or _class_names_file(self.splits["train"]) is not None
        if named and not any(_is_int(name) for name in self.label_names):
            # Names given apart from the data (--labels, classes.txt): the data may hold their indices instead.
            index.update({str(i): i for i in range(len(self.label_names))})
        for record in _records(self.splits[split], self.options):
            problem, detail = record.problem, record.detail
            if problem is None and record.label not in index:
                problem, detail = UNKNOWN_LABEL, f" {record.label!r} (classes: {_listed(self.label_names)})"
            if problem is None:
                yield record.text, index[record.label]
                continue
            if not self.skip_bad_rows:
                raise BadRowError(f"{record.where}: {problem}{detail} (pass --skip-bad-rows to skip such rows)")
            if skipped is not None:
                skipped[problem] += 1


def _listed(values: Sequence[object]) -> str:
    """Values for a message: all of them when few, else the first :data:`MOST_LISTED` and how many there are."""
    shown = ", ".join(str(value) for value in list(values)[:MOST_LISTED])
    return shown if len(values) <= MOST_LISTED else f"{shown}, ... ({len(values):,} in all)"


def _optional_path(path: str | Path | None) -> Path | None:
    return Path(path).expanduser() if path else None


def _is_int(value: str) -> bool:
    return value.lstrip("-").isdigit()


def _content_key(path: Path) -> str:
    if path.is_file():
        return f"sha256:{file_digest(path)}"
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return f"listing:{short_digest(listing)}"


def _class_names_file(train: Path) -> tuple[str, ...] | None:
    """Names from a ``classes.txt`` beside the data (one per line, in class order), as AG News ships them."""
    folder = train if train.is_dir() else train.parent
    names_file = folder / CLASS_NAMES_FILE
    if not names_file.is_file():
        return None
    return tuple(line.strip() for line in names_file.read_text(encoding="utf-8").splitlines() if line.strip())


# ---------------------------------------------------------------------------------------------- readers
def _records(path: Path, options: ReadOptions) -> Iterator[_Record]:
    """Raw rows of one split, whatever its format."""
    if path.is_dir():
        yield from _folder_records(path, options)
        return
    kind = FORMATS.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        yield from _delimited_records(path, options, delimiter_of(path))
    elif kind == "jsonl":
        yield from _json_lines_records(path, options)
    elif kind == "parquet":
        yield from _parquet_records(path, options)
    else:
        raise ValueError(f"{path}: unknown format (use one of {', '.join(sorted(FORMATS))}, or a folder per label)")


def _checked(where: str, text: str | None, label: str | None, max_bytes: int) -> _Record:
    """A record with the problems every format shares: missing label, empty, too long, not UTF-8."""
    if label is None or not label.strip():
        return _Record(where, problem=MISSING_LABEL)
    if text is None or not text.strip():
        return _Record(where, problem=EMPTY_TEXT)
    try:
        size = len(text.encode("utf-8"))  # undecodable bytes were kept as lone surrogates, which refuse to encode
        label.encode("utf-8")
    except UnicodeEncodeError:
        return _Record(where, problem=NOT_UTF8)
    if size > max_bytes:
        return _Record(where, problem=TOO_LONG, detail=f" ({size:,} bytes > {max_bytes:,})")
    return _Record(where, text, label.strip())


def delimiter_of(path: Path) -> str | None:
    """The field delimiter of a CSV (``,``) or TSV (tab) file, by its suffix; None for any other format."""
    return {"csv": ",", "tsv": "\t"}.get(FORMATS.get(path.suffix.lower(), ""))


def delimited_dialect(delimiter: str) -> dict[str, object]:
    """The csv module's settings for a delimited file as the corpus reads it, and to write one it reads alike.

    TSV as GLUE writes it: no quoting, so a quote character is just text. CSV: quoted where a field needs it.
    """
    if delimiter == "\t":
        return {"delimiter": delimiter, "quoting": csv.QUOTE_NONE, "quotechar": None}
    return {"delimiter": delimiter, "quoting": csv.QUOTE_MINIMAL}


@contextlib.contextmanager
def delimited_rows(path: Path, delimiter: str) -> Iterator[Any]:  # a csv reader: rows, and its line_num
    """A ``csv.reader`` over a delimited file, as the corpus reads it: a BOM dropped, undecodable bytes kept.

    Undecodable bytes stay in the fields (``surrogateescape``), so one bad line is reported rather than ending the
    file, and a field may be as long as it likes (the corpus checks its own byte limit per field).
    """
    previous_limit = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            yield csv.reader(handle, **delimited_dialect(delimiter))
    finally:
        csv.field_size_limit(previous_limit)


def _delimited_records(path: Path, options: ReadOptions, delimiter: str) -> Iterator[_Record]:
    with delimited_rows(path, delimiter) as reader:
        first = next(reader, None)
        if first is None:
            return
        next_line = reader.line_num + 1  # a quoted field may span lines: a row starts after the previous one
        ahead = []  # the rows after the first, read ahead to tell a header and the columns by their content
        for fields in islice(reader, SAMPLE_ROWS):
            ahead.append((next_line, fields))
            next_line = reader.line_num + 1
        sample = [fields for _, fields in ahead if len(fields) == len(first)]
        header = options.header if options.header is not None else _looks_like_header(first, sample, options)
        text_at, label_at = _columns(path, first if header else None, first,
                                     sample if header else [first, *sample], options)
        width = len(first)

        def record(fields: list[str], line: int) -> _Record | None:
            if not fields:
                return None  # a blank line holds no row (csv reports it as an empty list)
            where = f"{path}, line {line}"
            if len(fields) != width:
                return _Record(where, problem=FIELD_COUNT, detail=f" ({len(fields)}, expected {width})")
            return _checked(where, fields[text_at], fields[label_at], options.max_text_bytes)

        if not header and (first_record := record(first, 1)) is not None:
            yield first_record
        for line, fields in ahead:
            if (row := record(fields, line)) is not None:
                yield row
        for fields in reader:
            line, next_line = next_line, reader.line_num + 1
            if (row := record(fields, line)) is not None:
                yield row


def _looks_like_header(first: list[str], sample: list[list[str]], options: ReadOptions) -> bool:
    """Whether a first row of short identifiers is a header.

    It is if one of them is a known or given column name, or if the rows below it look like data under names
    (see :func:`~rnn_lightning.data.columns.looks_like_a_header`).
    """
    if not all(_HEADER_FIELD.match(field.strip()) for field in first):
        return False
    names = {*TEXT_NAMES, *LABEL_NAMES, *(str(c).lower() for c in (options.text_column, options.label_column) if c)}
    return any(field.strip().lower() in names for field in first) or looks_like_a_header(first, sample)


def _columns(path: Path, header: Sequence[str] | None, first: Sequence[str], sample: Sequence[Sequence[object]],
             options: ReadOptions) -> tuple[int, int]:
    """Positions of the text and label columns: given, known by name, or told by the content of ``sample``.

    Raises:
        ValueError: If a named column is missing, or neither names nor content tell the columns apart.
    """
    names = [field.strip().lower() for field in header] if header else None

    def position(given: str | None, candidates: Sequence[str], what: str) -> int | None:
        if given is not None and str(given).isdigit():
            if int(given) >= len(first):
                raise ValueError(f"{path}: --{what}-column {given} is past the {len(first)} column(s)")
            return int(given)
        if given is not None:
            if names is None:
                raise ValueError(f"{path}: --{what}-column {given!r} names a column, but the file has no header "
                                 "(give a 0-based index, or --header)")
            if str(given).lower() not in names:
                raise ValueError(f"{path}: no column {given!r} (columns: {_listed(header)})")
            return names.index(str(given).lower())
        if names is not None:
            return next((names.index(name) for name in candidates if name in names), None)
        return None

    text_at = position(options.text_column, TEXT_NAMES, "text")
    label_at = position(options.label_column, LABEL_NAMES, "label")
    if text_at is None or label_at is None:
        text_at, label_at = detect_columns(sample, len(first), text_at, label_at)
    if text_at is None or label_at is None:
        if header is None:
            raise _not_told(f"{path}: {len(first)} columns and no header, and", "column", None, text_at, label_at)
        raise _not_told(f"{path}:", "column", header, text_at, label_at)
    if text_at == label_at:
        raise ValueError(f"{path}: the text and the label cannot be the same column ({text_at})")
    return text_at, label_at


def _not_told(where: str, kind: str, names: Sequence[object] | None, text_at: int | None,
              label_at: int | None) -> ValueError:
    """The one-line refusal when neither names nor content tell the text or label column (``kind``: or field)."""
    missing = " and ".join(what for what, at in (("text", text_at), ("label", label_at)) if at is None)
    flags = " and ".join(f"--{what}-column" for what, at in (("text", text_at), ("label", label_at)) if at is None)
    if names is None:
        return ValueError(f"{where} their content does not tell the {missing} {kind}: pass {flags} (0-based)")
    return ValueError(f"{where} neither the names nor the content of the {kind}s {_listed(names)} tell the "
                      f"{missing} {kind}: pass {flags}")


def _json_lines_records(path: Path, options: ReadOptions) -> Iterator[_Record]:
    objects = _json_objects(path)
    ahead = list(islice(objects, SAMPLE_ROWS))  # read ahead, to tell the fields by their content if need be
    sample = [(where, row) for where, row in ahead if isinstance(row, dict)]
    if not sample:
        yield from (row for _, row in ahead)
        return
    where, first = sample[0]
    text_key = _json_key(first, options.text_column, TEXT_NAMES)
    label_key = _json_key(first, options.label_column, LABEL_NAMES)
    if text_key is None or label_key is None:
        keys = list(first)
        text_at, label_at = detect_columns([[row.get(key) for key in keys] for _, row in sample], len(keys),
                                           keys.index(text_key) if text_key in keys else None,
                                           keys.index(label_key) if label_key in keys else None)
        if text_at is None or label_at is None:  # one line, rather than every row read as bad
            raise _not_told(f"{where}:", "field", keys, text_at, label_at)
        text_key, label_key = keys[text_at], keys[label_at]
    for where, row in chain(ahead, objects):
        if isinstance(row, _Record):
            yield row
            continue
        text, label = row.get(text_key), row.get(label_key)
        yield _checked(where, text if isinstance(text, str) else None, _label_string(label), options.max_text_bytes)


def _json_objects(path: Path) -> Iterator[tuple[str, dict[str, object] | _Record]]:
    """``(where, object)`` for each line of a JSON Lines file, or ``(where, the problem's record)``."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path}, line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield where, _Record(where, problem=NOT_UTF8)
                continue
            if not line.strip():
                continue  # a blank line holds no row
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            yield where, row if isinstance(row, dict) else _Record(where, problem=NOT_JSON)


def _json_key(row: dict[str, object], given: str | None, candidates: Sequence[str]) -> str | None:
    if given is not None:
        return str(given)
    return next((key for key in candidates if key in row), None)


def _label_string(value: object) -> str | None:
    """A JSON or Parquet label as the class name a CSV file would hold; None where it is missing.

    Strings are as they are, booleans ``true``/``false`` as JSON spells them, and numbers in decimal, a whole
    float as an integer: a label column that held a missing value comes out of pandas as floats, and its
    ``1.0`` must be the class ``1`` of the rows beside it. A NaN, an infinity, a list or an object is missing.
    """
    if isinstance(value, bool):  # before int: True is an int in Python
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _parquet_records(path: Path, options: ReadOptions) -> Iterator[_Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:  # an optional extra: say how to get it
        raise ValueError(f"{path}: reading Parquet needs pyarrow (pip install 'rnn-lightning[parquet]')") from error
    parquet = pq.ParquetFile(path)
    columns = parquet.schema_arrow.names
    # Its columns are told as a CSV file's with a header: given, known by name, or by the first rows' content.
    first = next(parquet.iter_batches(batch_size=SAMPLE_ROWS), None)
    sample = list(zip(*(first.column(at).to_pylist() for at in range(len(columns))), strict=True)) if first else []
    text_at, label_at = _columns(path, columns, columns, sample, options)
    text_column, label_column = columns[text_at], columns[label_at]
    number = 0
    for batch in parquet.iter_batches(batch_size=8192, columns=[text_column, label_column]):
        for text, label in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            number += 1
            yield _checked(f"{path}, row {number}", text if isinstance(text, str) else None, _label_string(label),
                           options.max_text_bytes)


def _folder_records(root: Path, options: ReadOptions) -> Iterator[_Record]:
    """One text per file in a folder per label (``root/<label>/<anything>``), labels and files in name order."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise FileNotFoundError(f"{root} has no label folders (expected {root}/<label>/<text files>)")
    for folder in folders:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            where = str(file)
            if file.stat().st_size > options.max_text_bytes:
                yield _Record(where, problem=TOO_LONG,
                              detail=f" ({file.stat().st_size:,} bytes > {options.max_text_bytes:,})")
                continue
            try:
                text = file.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                yield _Record(where, problem=NOT_UTF8)
                continue
            yield _checked(where, text, folder.name, options.max_text_bytes)
