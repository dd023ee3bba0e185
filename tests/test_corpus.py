"""Reading the user's own labelled files: formats, columns, headers, splits, labels and every bad row."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rnn_lightning.data.columns import SAMPLE_ROWS
from rnn_lightning.data.corpus import (
    EMPTY_TEXT,
    FIELD_COUNT,
    MISSING_LABEL,
    NOT_JSON,
    NOT_UTF8,
    TOO_LONG,
    UNKNOWN_LABEL,
    BadRowError,
    CorpusSource,
    ReadOptions,
    find_splits,
    is_corpus,
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def rows(source: CorpusSource, split: str = "train") -> list[tuple[str, int]]:
    return list(source.rows(split))


def test_csv_with_a_header_finds_its_columns_and_sorts_the_labels(tmp_path):
    path = write(tmp_path / "reviews.csv", 'id,review,sentiment\n1,"Good, really good",pos\n2,Bad film,neg\n')
    source = CorpusSource(path)
    assert source.label_names == ("neg", "pos")
    assert rows(source) == [("Good, really good", 1), ("Bad film", 0)]


def test_tsv_with_windows_line_ends_quotes_and_headers_that_differ_between_files(tmp_path):
    # As SST-2 ships: CRLF in train.tsv, "sentence" there and "content" in dev.tsv, quotes that are plain text.
    write(tmp_path / "train.tsv", 'label\tsentence\r\n0\t"so-called" comedy\r\n1\tloved it\r\n')
    write(tmp_path / "dev.tsv", "label\tcontent\n1\tgreat fun\n")
    source = CorpusSource(tmp_path)
    assert set(source.splits) == {"train", "val"}
    assert rows(source) == [('"so-called" comedy', 0), ("loved it", 1)]
    assert rows(source, "val") == [("great fun", 1)]


def test_csv_without_a_header_tells_text_from_label_and_takes_names_from_classes_txt(tmp_path):
    # As the AG News subset ships: "text",label with labels 0-3 whose names are in classes.txt.
    write(tmp_path / "train.csv", '"Stocks fell, again",2\n"The striker scored",1\n"Elections held",0\n')
    write(tmp_path / "classes.txt", "world\nsports\nbusiness\n")
    source = CorpusSource(tmp_path / "train.csv")
    assert source.label_names == ("world", "sports", "business")
    assert rows(source) == [("Stocks fell, again", 2), ("The striker scored", 1), ("Elections held", 0)]


def test_a_first_row_of_data_is_not_taken_for_a_header(tmp_path):
    path = write(tmp_path / "d.csv", "great,positive\nawful film,negative\n")
    source = CorpusSource(path, options=ReadOptions(text_column="0", label_column="1"))
    assert rows(source) == [("great", 1), ("awful film", 0)]
    with_header = ReadOptions(text_column="0", label_column="1", header=True)
    assert rows(CorpusSource(path, labels=["negative", "positive"], options=with_header)) == [("awful film", 0)]


def test_json_lines_with_named_fields_and_integer_labels(tmp_path):
    lines = [{"body": "first", "y": 1}, {"body": "second", "y": 0}, {"body": "third", "y": 2}]
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    source = CorpusSource(path, options=ReadOptions(text_column="body", label_column="y"))
    assert source.label_names == ("0", "1", "2")  # integers sorted as numbers
    assert rows(source) == [("first", 1), ("second", 0), ("third", 2)]


def test_integer_labels_sort_as_numbers_not_as_text_and_are_never_taken_for_indices(tmp_path):
    path = write(tmp_path / "d.jsonl", "".join(json.dumps({"text": f"t{i}", "label": i}) + "\n" for i in (10, 9, 2)))
    val = write(tmp_path / "v.jsonl", json.dumps({"text": "v", "label": 1}) + "\n")
    source = CorpusSource(path, val_source=val, skip_bad_rows=True)
    assert source.label_names == ("2", "9", "10")
    assert rows(source) == [("t10", 2), ("t9", 1), ("t2", 0)]  # "2" is the class named 2, not class index 2
    skipped = Counter()
    assert list(source.rows("val", skipped)) == [] and skipped == {UNKNOWN_LABEL: 1}  # 1 is no class's name


def test_json_and_parquet_labels_of_other_types_are_the_classes_a_csv_file_would_name(tmp_path):
    # Booleans as JSON spells them; a whole float as the integer it is, since pandas turns an integer column
    # with a missing value into floats: its 1.0 is the class 1 of the rows beside it, not a class of its own.
    labels = [True, False, 1.0, 1, 0.5, float("nan"), None, [1]]
    path = write(tmp_path / "d.jsonl", "".join(json.dumps({"text": f"t{i}", "label": label}) + "\n"
                                                for i, label in enumerate(labels)))
    skipped = Counter()
    source = CorpusSource(path, skip_bad_rows=True)
    assert source.label_names == ("1", "0.5", "false", "true")
    assert list(source.rows("train", skipped)) == [("t0", 3), ("t1", 2), ("t2", 0), ("t3", 0), ("t4", 1)]
    assert skipped == {MISSING_LABEL: 3}  # NaN, null and a list name no class
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    flags, scores = tmp_path / "flags.parquet", tmp_path / "scores.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": [True, False, True]}), flags)
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": [2.0, None, 0.0]}), scores)
    assert list(CorpusSource(flags).rows("train")) == [("a", 1), ("b", 0), ("c", 1)]
    assert CorpusSource(flags).label_names == ("false", "true")
    skipped = Counter()
    assert list(CorpusSource(scores, skip_bad_rows=True).rows("train", skipped)) == [("a", 1), ("c", 0)]
    assert skipped == {MISSING_LABEL: 1}


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"text": ["one", "two", None], "category": ["a", "b", "a"]}), path)
    skipped = Counter()
    source = CorpusSource(path, skip_bad_rows=True)
    assert list(source.rows("train", skipped)) == [("one", 0), ("two", 1)] and skipped == {EMPTY_TEXT: 1}
    with pytest.raises(BadRowError, match=r"train\.parquet, row 3: empty text"):
        rows(CorpusSource(path))


def test_parquet_columns_are_found_as_a_csv_file_with_a_header_finds_them(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"Id": ["r1", "r2"], "Review": ["fine film", "dull film"], "Sentiment": ["pos", "neg"],
                             "Summary": ["fine", "dull"]}), path)
    assert list(CorpusSource(path).rows("train")) == [("fine film", 1), ("dull film", 0)]  # known names, any case
    for told in ({"text_column": "summary"}, {"text_column": "3", "label_column": "SENTIMENT"}):
        assert list(CorpusSource(path, options=ReadOptions(**told)).rows("train")) == [("fine", 1), ("dull", 0)]
    missing = "train.parquet: no column 'title' \\(columns: Id, Review, Sentiment, Summary\\)"
    for told, message in (({"text_column": "title"}, missing),
                          ({"label_column": "4"}, "--label-column 4 is past the 4 column"),
                          ({"text_column": "2"}, "cannot be the same column")):
        with pytest.raises(ValueError, match=message):
            _ = CorpusSource(path, options=ReadOptions(**told)).label_names


def test_a_folder_per_label_and_split_folders(tmp_path):
    for split, texts in (("train", {"ham": ["hello there", "see you"], "spam": ["win money"]}),
                         ("test", {"ham": ["lunch?"], "spam": ["cheap pills"]})):
        for label, bodies in texts.items():
            for i, body in enumerate(bodies):
                write(tmp_path / split / label / f"{i}.txt", body)
    source = CorpusSource(tmp_path)
    assert set(source.splits) == {"train", "test"} and source.label_names == ("ham", "spam")
    assert rows(source) == [("hello there", 0), ("see you", 0), ("win money", 1)]
    assert rows(source, "test") == [("lunch?", 0), ("cheap pills", 1)]
    single = CorpusSource(tmp_path / "train")  # one collection of label folders: training only
    assert set(single.splits) == {"train"} and len(rows(single)) == 3


def test_splits_are_found_by_name_or_given(tmp_path):
    for name in ("train.csv", "validation.csv", "test.csv", "notes.txt"):
        write(tmp_path / name, "text,label\na,x\nb,y\n")
    assert find_splits(tmp_path) == {"train": tmp_path / "train.csv", "val": tmp_path / "validation.csv",
                                     "test": tmp_path / "test.csv"}
    other = write(tmp_path / "held_out.csv", "text,label\nc,x\n")
    assert find_splits(tmp_path / "train.csv", test_source=other) == {"train": tmp_path / "train.csv",
                                                                       "test": other}
    write(tmp_path / "only" / "test.csv", "text,label\na,x\n")
    with pytest.raises(FileNotFoundError, match="no training split"):
        find_splits(tmp_path / "only")
    with pytest.raises(FileNotFoundError, match="missing.csv does not exist"):
        find_splits(tmp_path / "train.csv", val_source=tmp_path / "missing.csv")


def test_what_counts_as_ones_own_data(tmp_path):
    assert is_corpus(write(tmp_path / "a.csv", "text,label\n"))
    assert is_corpus(write(tmp_path / "a.JSONL", ""))
    assert not is_corpus(write(tmp_path / "a.tar.gz", b""))
    assert not is_corpus(tmp_path / "missing.csv")
    (tmp_path / "aclImdb" / "train" / "neg").mkdir(parents=True)
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    assert not is_corpus(tmp_path / "aclImdb")  # the IMDB layout stays IMDB's
    assert is_corpus(tmp_path)


def test_given_labels_accept_the_names_or_their_indices(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\na,1\nb,negative\nc,2\n")
    source = CorpusSource(path, labels=["negative", "positive"], skip_bad_rows=True)
    skipped = Counter()
    assert list(source.rows("train", skipped)) == [("a", 1), ("b", 0)] and skipped == {UNKNOWN_LABEL: 1}
    with pytest.raises(ValueError, match="distinct"):
        CorpusSource(path, labels=["a", "a"])


@pytest.mark.parametrize("given, message", [
    (ReadOptions(text_column="missing"), "no column 'missing'"),
    (ReadOptions(text_column="7"), "column 7 is past the 3 column"),
    (ReadOptions(text_column="label", label_column="label"), "cannot be the same column"),
])
def test_columns_that_cannot_be_found_are_refused_with_the_file_named(tmp_path, given, message):
    path = write(tmp_path / "d.csv", "id,text,label\n1,a,x\n2,b,y\n")
    with pytest.raises(ValueError, match=message):
        rows(CorpusSource(path, labels=["x", "y"], options=given))


def test_unnamed_columns_need_naming_when_there_are_more_than_two(tmp_path):
    path = write(tmp_path / "d.csv", "1,some text,x\n2,more text,y\n")
    with pytest.raises(ValueError, match="3 columns and no header"):
        rows(CorpusSource(path, labels=["x", "y"]))
    named = CorpusSource(path, labels=["x", "y"], options=ReadOptions(text_column="1", label_column="2"))
    assert rows(named) == [("some text", 0), ("more text", 1)]
    with pytest.raises(ValueError, match="names a column, but the file has no header"):
        rows(CorpusSource(path, labels=["x", "y"], options=ReadOptions(text_column="text")))


def test_a_single_class_is_refused(tmp_path):
    with pytest.raises(ValueError, match="1 class"):
        _ = CorpusSource(write(tmp_path / "d.csv", "text,label\na,x\nb,x\n")).label_names


# Each bad row beside two good ones ("fine" and "also fine", labels x and y): the reason and its line.
BAD_ROWS = [
    ("d.csv", "text,label\nfine,x\n,y\nalso fine,y\n", EMPTY_TEXT, "line 3"),
    ("d.csv", "text,label\nfine,x\nwho knows,\nalso fine,y\n", MISSING_LABEL, "line 3"),
    ("d.csv", "text,label\nfine,x\nthree,fields,x\nalso fine,y\n", FIELD_COUNT, "line 3"),
    ("d.csv", "text,label\nfine,x\nlonely\nalso fine,y\n", FIELD_COUNT, "line 3"),
    ("d.csv", "text,label\nfine,x\nwhat,z\nalso fine,y\n", UNKNOWN_LABEL, "line 3"),
    ("d.csv", b"text,label\nfine,x\ncaf\xe9,y\nalso fine,y\n", NOT_UTF8, "line 3"),
    ("d.csv", "text,label\nfine,x\n" + "long " * 30 + ",y\nalso fine,y\n", TOO_LONG, "line 3"),
    ("d.csv", 'text,label\nfine,x\n"two\nlines",\nalso fine,y\n', MISSING_LABEL, "line 3"),
    ("d.tsv", "text\tlabel\nfine\tx\n   \ty\nalso fine\ty\n", EMPTY_TEXT, "line 3"),
    ("d.jsonl", '{"text": "fine", "label": "x"}\n[1, 2]\n{"text": "also fine", "label": "y"}\n', NOT_JSON, "line 2"),
    ("d.jsonl", '{"text": "fine", "label": "x"}\n{"text": "no label"}\n{"text": "also fine", "label": "y"}\n',
     MISSING_LABEL, "line 2"),
    ("d.jsonl", b'{"text": "fine", "label": "x"}\n{"text": "\xff"}\n{"text": "also fine", "label": "y"}\n',
     NOT_UTF8, "line 2"),
    ("d.jsonl", '{"text": "fine", "label": "x"}\n{"text": 5, "label": "x"}\n{"text": "also fine", "label": "y"}\n',
     EMPTY_TEXT, "line 2"),
]


@pytest.mark.parametrize("name, content, reason, where", BAD_ROWS)
def test_a_bad_row_stops_reading_with_its_file_line_and_reason(tmp_path, name, content, reason, where):
    path = write(tmp_path / name, content)
    source = CorpusSource(path, labels=["x", "y"], options=ReadOptions(max_text_bytes=100))
    with pytest.raises(BadRowError, match=f"^{path}, {where}: {reason}.*--skip-bad-rows"):
        rows(source)


@pytest.mark.parametrize("name, content, reason, where", BAD_ROWS)
def test_skip_bad_rows_keeps_the_good_ones_and_counts_the_bad_by_reason(tmp_path, name, content, reason, where):
    path = write(tmp_path / name, content)
    source = CorpusSource(path, labels=["x", "y"], options=ReadOptions(max_text_bytes=100), skip_bad_rows=True)
    skipped = Counter()
    assert list(source.rows("train", skipped)) == [("fine", 0), ("also fine", 1)]
    assert skipped == {reason: 1}


def test_the_size_limit_is_exact_in_bytes(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\n" + "é" * 50 + ",x\n" + "é" * 50 + "e,y\nok,y\n")  # 100, 101 bytes
    skipped = Counter()
    source = CorpusSource(path, labels=["x", "y"], options=ReadOptions(max_text_bytes=100), skip_bad_rows=True)
    assert list(source.rows("train", skipped)) == [("é" * 50, 0), ("ok", 1)] and skipped == {TOO_LONG: 1}


def test_a_bad_first_row_is_named_by_its_own_line(tmp_path):
    with pytest.raises(BadRowError, match=r"d\.csv, line 2: empty text"):
        rows(CorpusSource(write(tmp_path / "d.csv", "text,label\n,x\nfine,y\n"), labels=["x", "y"]))
    with pytest.raises(BadRowError, match=r"e\.csv, line 1: empty text"):
        rows(CorpusSource(write(tmp_path / "e.csv", ",x\nfine,y\n"), labels=["x", "y"],
                          options=ReadOptions(text_column="0", label_column="1")))


def test_line_numbers_count_physical_lines_past_a_quoted_line_break(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\n"one\nstory",x\nfine,y\nbad,z\n')
    with pytest.raises(BadRowError, match="line 5: unknown label 'z'"):
        rows(CorpusSource(path, labels=["x", "y"]))


def test_rows_past_those_read_ahead_are_named_by_their_own_line(tmp_path):
    lines = ["text,label", '"one\nstory",x', *(f"review {i},{'xy'[i % 2]}" for i in range(SAMPLE_ROWS + 100))]
    lines[SAMPLE_ROWS + 50] = "a row without its label"  # physical line SAMPLE_ROWS + 52, past the sample
    bad_row = f"d\\.csv, line {SAMPLE_ROWS + 52}: wrong number of fields \\(1, expected 2\\)"
    with pytest.raises(BadRowError, match=bad_row):
        rows(CorpusSource(write(tmp_path / "d.csv", "\n".join(lines) + "\n"), labels=["x", "y"]))


def test_a_label_folders_identity_changes_with_its_files(tmp_path):
    write(tmp_path / "a" / "1.txt", "one")
    write(tmp_path / "b" / "1.txt", "two")
    before = CorpusSource(tmp_path).identity
    assert CorpusSource(tmp_path).identity == before
    write(tmp_path / "b" / "2.txt", "three")
    assert CorpusSource(tmp_path).identity != before


def test_a_folder_of_labels_reports_bad_files_by_name(tmp_path):
    write(tmp_path / "a" / "1.txt", "fine")
    write(tmp_path / "a" / "2.txt", b"\xff\xfe")
    write(tmp_path / "a" / "3.txt", "after a bad one")  # a skipped file does not end its folder
    write(tmp_path / "b" / "0.txt", "far too long for the limit")
    write(tmp_path / "b" / "1.txt", "   ")
    write(tmp_path / "b" / "2.txt", "also fine")
    skipped = Counter()
    source = CorpusSource(tmp_path, skip_bad_rows=True, options=ReadOptions(max_text_bytes=20))
    assert list(source.rows("train", skipped)) == [("fine", 0), ("after a bad one", 0), ("also fine", 1)]
    assert skipped == {NOT_UTF8: 1, EMPTY_TEXT: 1, TOO_LONG: 1}
    with pytest.raises(BadRowError, match=f"{tmp_path / 'a' / '2.txt'}: {NOT_UTF8}"):
        rows(CorpusSource(tmp_path))


def test_columns_a_newcomer_names_otherwise_are_found_or_refused_in_one_short_line(tmp_path):
    questions = tmp_path / "questions.csv"
    rows = [f"what is thing number {i}?,{('DESC', 'NUM', 'LOC')[i % 3]}" for i in range(300)]
    questions.write_text("question,coarse_label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert CorpusSource(questions).label_names == ("DESC", "LOC", "NUM")  # named as TREC names them
    polarity = tmp_path / "reviews.jsonl"
    polarity.write_text("".join(json.dumps({"body": f"text {i}", "polarity": i % 2}) + "\n" for i in range(20)))
    assert CorpusSource(polarity).label_names == ("0", "1")
    assert list(CorpusSource(polarity).rows("train"))[:2] == [("text 0", 0), ("text 1", 1)]


def reviews_with(fields: dict[str, object], count: int = 200) -> list[dict[str, object]]:
    """``count`` rows of these fields; a callable value is called with the row's number."""
    return [{name: value(i) if callable(value) else value for name, value in fields.items()} for i in range(count)]


UNKNOWN_NAMES = {"id": lambda i: f"r{i}", "opinion": lambda i: f"a review of film {i}, {'great' if i % 2 else 'dull'}",
                 "verdict": lambda i: ("yes", "no")[i % 2], "source": "web"}


@pytest.mark.parametrize("form", ["jsonl", "csv header", "csv no header", "parquet"])
def test_columns_of_unknown_names_are_told_by_their_content(tmp_path, form):
    rows_in = reviews_with(UNKNOWN_NAMES)
    if form == "jsonl":
        path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in rows_in))
    elif form == "parquet":
        pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
        path = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(rows_in), path)
    else:
        lines = [",".join(f'"{value}"' for value in row.values()) for row in rows_in]
        header = ["id,opinion,verdict,source"] if form == "csv header" else []
        path = write(tmp_path / "d.csv", "\n".join(header + lines) + "\n")
    source = CorpusSource(path)
    # The text is the long, mostly distinct column; the label the one of few values; the id and the constant neither.
    assert source.label_names == ("no", "yes")
    assert list(source.rows("train"))[:2] == [("a review of film 0, dull", 1), ("a review of film 1, great", 0)]


def test_a_text_is_told_by_its_words_from_distinct_codes_of_about_its_length(tmp_path):
    # Phrases of two words (SST-2's are often that short) against reference codes nearly as long, one in ten with a
    # suffix after a space: a column is text when most of its values have more than one word, not when some do.
    fields = {"code": lambda i: f"ref-{i:05d}" + (" b" if i % 10 == 0 else ""),
              "phrase": lambda i: f"film{i} {('great', 'dull')[i % 2]}", "verdict": lambda i: ("yes", "no")[i % 2]}
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in reviews_with(fields)))
    assert list(CorpusSource(path).rows("train"))[:2] == [("film0 great", 1), ("film1 dull", 0)]


def test_the_text_is_the_clearly_longest_of_the_columns_of_words_and_a_long_url_is_no_text(tmp_path):
    fields = {"opinion": lambda i: f"a long review of film {i}, which I found {('great', 'dull')[i % 2]} overall",
              "title": lambda i: f"thoughts on film {i}", "verdict": lambda i: ("yes", "no")[i % 2],
              "url": lambda i: f"https://reviews.example.org/films/{i:06d}/page"}
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in reviews_with(fields)))
    assert list(CorpusSource(path).rows("train"))[0] == ("a long review of film 0, which I found great overall", 1)


def test_two_unnamed_columns_label_first_or_told_either_way_whatever_their_lengths(tmp_path):
    headerless = write(tmp_path / "d.csv", "".join(f'{i % 2},"a review of film {i}"\n' for i in range(20)))
    assert list(CorpusSource(headerless).rows("train"))[0] == ("a review of film 0", 0)  # the longer is the text
    # Long class names beside short texts: told the label column, the text is the other, though shorter.
    topics = [f'"news {i}","{("Business and Finance", "Science and Technology")[i % 2]}"\n' for i in range(20)]
    told = write(tmp_path / "topics.csv", "".join(topics))
    source = CorpusSource(told, options=ReadOptions(label_column="1"))
    assert source.label_names == ("Business and Finance", "Science and Technology")
    assert list(source.rows("train"))[1] == ("news 1", 1)


def test_json_fields_named_by_flag_or_known_name_hold_where_the_content_would_choose_otherwise(tmp_path):
    def source(fields, count=200, **told):
        path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in reviews_with(fields, count)))
        return CorpusSource(path, options=ReadOptions(**told))

    # Two texts and two label fields: the content alone would refuse (the test below); the flags settle both.
    both = {**UNKNOWN_NAMES, "title": lambda i: f"my thoughts on film {i}", "stars": lambda i: i % 5}
    assert list(source(both, text_column="title", label_column="stars").rows("train"))[:2] == [
        ("my thoughts on film 0", 0), ("my thoughts on film 1", 1)]
    # A field called text is the text though a longer one holds words; the label alone is told by content.
    named_text = {"text": lambda i: f"film {i}", "notes": lambda i: f"a longer note on film {i} and more",
                  "verdict": lambda i: ("yes", "no")[i % 2]}
    assert list(source(named_text).rows("train"))[:2] == [("film 0", 1), ("film 1", 0)]
    # A field called label is the label beside another of few values; every row is read, past those sampled.
    named_label = {"label": lambda i: i % 2, "opinion": UNKNOWN_NAMES["opinion"], "stars": lambda i: i % 5}
    read = list(source(named_label, count=SAMPLE_ROWS + 100).rows("train"))
    assert len(read) == SAMPLE_ROWS + 100 and read[1] == ("a review of film 1, great", 1)


@pytest.mark.parametrize(("fields", "told", "refused"), [
    ({**UNKNOWN_NAMES, "stars": lambda i: i % 5}, "text", "label"),  # two columns of few values
    ({**UNKNOWN_NAMES, "title": lambda i: f"my thoughts on film {i}"}, "label", "text"),  # two texts, alike in length
    ({name: lambda i, name=name: f"{name} {i} words" for name in map("f{}".format, range(30))}, "", "text and label"),
], ids=["two label columns", "two text columns", "thirty alike columns"])
def test_columns_the_content_leaves_open_are_refused_in_one_line_naming_the_flags(tmp_path, fields, told, refused):
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in reviews_with(fields)))
    with pytest.raises(ValueError) as refusal:
        _ = CorpusSource(path).label_names
    message = str(refusal.value)
    flags = " and ".join(f"--{what}-column" for what in refused.split(" and "))
    assert message.startswith(f"{path}, line 1: neither the names nor the content") and message.endswith(
        f"tell the {refused} field: pass {flags}")
    assert len(message) < 300 and "\n" not in message and ("(30 in all)" in message) == (told == "")


@pytest.mark.parametrize(("header", "told", "message"), [
    (True, {}, "d.csv: neither the names nor the content of the columns id, opinion, verdict, source, stars tell the "
               "label column: pass --label-column"),
    (False, {}, "d.csv: 5 columns and no header, and their content does not tell the label column: pass "
                "--label-column (0-based)"),
    (False, {"text_column": "opinion"}, "d.csv: --text-column 'opinion' names a column, but the file has no header "
                                        "(give a 0-based index, or --header)"),
    (True, {"label_column": "5"}, "d.csv: --label-column 5 is past the 5 column(s)"),
], ids=["header", "no header", "a name without a header", "an index past the columns"])
def test_csv_columns_that_cannot_be_told_are_refused_in_one_line_naming_the_flags(tmp_path, header, told, message):
    rows_in = reviews_with({**UNKNOWN_NAMES, "stars": lambda i: i % 5})  # two columns of few values
    lines = [",".join(f'"{value}"' for value in row.values()) for row in rows_in]
    path = write(tmp_path / "d.csv", "\n".join((["id,opinion,verdict,source,stars"] if header else []) + lines))
    with pytest.raises(ValueError) as refused:
        _ = CorpusSource(path, options=ReadOptions(**told)).label_names
    assert str(refused.value) == f"{tmp_path / message}"


def test_a_csv_column_called_text_is_the_text_though_a_longer_one_holds_words(tmp_path):
    lines = [f'"film {i}","a longer note on film {i} and more",{("yes", "no")[i % 2]}' for i in range(50)]
    path = write(tmp_path / "d.csv", "\n".join(["text,notes,verdict", *lines]) + "\n")  # the label told by content
    assert list(CorpusSource(path).rows("train"))[:2] == [("film 0", 1), ("film 1", 0)]


def test_negative_integer_labels_sort_as_numbers(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{label},{label}\n" for label in (10, 9, -1)))
    assert CorpusSource(path).label_names == ("-1", "9", "10")


def test_a_header_of_unknown_names_is_told_from_a_first_row_of_data(tmp_path):
    data = "".join(f'"a review of film {i}",{("pos", "neg")[i % 2]}\n' for i in range(20))
    assert CorpusSource(write(tmp_path / "named.csv", "opinion,verdict\n" + data)).label_names == ("neg", "pos")
    # A first row of one-word data is data when its class appears below it.
    first_is_data = CorpusSource(write(tmp_path / "data.csv", "great,pos\n" + data))
    assert list(first_is_data.rows("train"))[0] == ("great", 1)


def test_a_label_column_with_as_many_values_as_rows_is_refused_as_probably_the_text(tmp_path):
    # Headerless, two columns: the label is the shorter field of the first row, here wrongly the text.
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("".join(f'"{i}","a text that is mostly {i} of its own, {i * 7}"\n' for i in range(5000)),
                       encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        _ = CorpusSource(swapped, options=ReadOptions(text_column="0", label_column="1")).label_names
    message = str(refused.value)
    assert "5,000 different values in 5,000 rows" in message and "--text-column and --label-column" in message
    assert len(message) < 300


def test_no_message_lists_more_than_ten_values(tmp_path):
    many = tmp_path / "many.csv"
    many.write_text("text,label\n" + "".join(f"text {i},c{i % 15}\n" for i in range(300)), encoding="utf-8")
    source = CorpusSource(many, labels=[f"c{i}" for i in range(14)])  # c14 is not among them
    with pytest.raises(BadRowError) as bad:
        list(source.rows("train"))
    assert "c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, ... (14 in all)" in str(bad.value)
