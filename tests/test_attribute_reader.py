"""The engine's JSON-lines reader (``_core.JsonlColumns``): the store it
gives is the store ``AttributeStore.from_input`` gives of ``json``'s
records, for every value kind it reads; lines it does not read exactly as
``json`` does are refused, and the Python reader then gives the values or
the error (file and line) that ``iter_jsonl`` gives. Never a crash or hang."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fanns import _core
from fanns.attributes import AttributeStore
from fanns.datasets import attribute_file, read_attribute_store, read_jsonl
from test_attribute_file import _layouts, _records, _same_store


@pytest.fixture
def native_only(monkeypatch):
    """The engine's reader must take every line (no fall-back to the Python reader)."""
    real = attribute_file._native_builders

    def checked(*args, **kwargs):
        out = real(*args, **kwargs)
        assert out is not None, "the engine's reader refused a line"
        return out

    monkeypatch.setattr(attribute_file, "_native_builders", checked)


def _feed(text: str | bytes) -> int:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _core.JsonlColumns().feed(data)


def _check_native(path, records, **options) -> AttributeStore:
    store = read_attribute_store(path, **options)
    _same_store(store, AttributeStore.from_input(records, len(records), options.get("types")))
    _same_store(store, read_attribute_store(path, native=False, **options))
    return store


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_records(tmp_path, native_only, seed):
    records = _records(700, seed) + _layouts(300, seed)
    path = tmp_path / "a.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=bool(seed % 2)) + "\n" for r in records), "utf-8"
    )
    store = _check_native(path, records)
    assert store.names == list(dict.fromkeys(k for r in records for k in r))
    _check_native(path, records[:321], limit=321)
    assert len(read_attribute_store(path, limit=0)) == 0


def test_unicode_escapes_and_spacing(tmp_path, native_only):
    text = (
        '{"s": "a\\"b\\\\c\\/d\\b\\f\\n\\r\\t", "t": ["\\u00e9", "é", "\\u20AC", "\\ud83d\\ude00", "😀"]}\n'
        '\t{ "s" :"\\u0000x" ,"t":[ ] , "u" : "\\uD834\\uDD1E"}  \n'
        '{"s":"日本","u":"\\uffff\\ue000\\u007f","k\\u00e9y":1}\r\n'
        "{}\n"
        '{"t":["a","a"],"s":""}\n'
        "\n \n"
    )
    path = tmp_path / "u.jsonl"
    path.write_text(text, encoding="utf-8", newline="")
    records = read_jsonl(path)
    store = _check_native(path, records)
    assert store.column("t")[1] == [] and store.column("s")[1] == "\0x"
    assert "kéy" in store.names


def test_numbers(tmp_path, native_only):
    lines = [
        '{"i": 0, "f": 0.5, "m": 1, "b": true, "e": 1e5}',
        '{"i": -0, "f": -0.0, "m": 2.25, "b": false, "e": 1E-5}',
        '{"i": 9223372036854775807, "f": 1.7976931348623157e308, "m": null, "e": 2.5e+3}',
        '{"i": -9223372036854775808, "f": 5e-324, "m": -3, "e": 123456789012345678901234567890.0}',
        '{"i": 12345678901234567, "f": 0.1, "m": 0.30000000000000004, "e": 1.0}',
    ]
    path = tmp_path / "n.jsonl"
    path.write_text("\n".join(lines) + "\n")
    store = _check_native(path, read_jsonl(path))
    assert store.types == {"i": "int", "f": "float", "m": "float", "b": "bool", "e": "float"}


def _reads_as_reference(path, records):
    """read_attribute_store(path) gives AttributeStore.from_input(records), or
    fails with the same exception type and message."""
    try:
        expected = AttributeStore.from_input(records, len(records))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)) as got:
            read_attribute_store(path)
        assert str(got.value) == str(exc)
    else:
        _same_store(read_attribute_store(path), expected)


def test_mixed_kinds_take_the_general_path(tmp_path, native_only):
    records = [
        {"a": 1, "b": "x", "c": ["p"], "d": True},
        {"a": "y", "b": ["x", "q"], "c": 2.5, "d": 3},
        {"a": None, "b": None, "c": None, "d": None},
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    for name in "abcd":
        line = [{name: r[name]} for r in records]
        path.write_text("".join(json.dumps(r) + "\n" for r in line))
        _reads_as_reference(path, line)
    path.write_text('{"c": 1}\n{"c": 2.5}\n')
    _check_native(path, read_jsonl(path), types={"c": "float"})


# Lines the engine's reader refuses though json reads them: the Python
# reader then gives the values (or from_input's error).
VALID_BUT_REFUSED = [
    '{"a": {"b": 1}}\n',  # nested object
    '{"a": [1, 2]}\n',  # array of numbers
    '{"a": ["x", null]}\n',
    '{"a": [["x"]]}\n',
    '{"a": 18446744073709551616}\n',  # beyond int64
    '{"a": 1e400}\n',  # overflows a double: inf
    '{"a": 1e-400}\n',  # underflows: 0.0
    '{"a": NaN}\n',
    '{"a": Infinity}\n{"a": -Infinity}\n',
    '{"a": "\\ud800"}\n',  # lone surrogates
    '{"a": "\\udc00x"}\n',
    '{"a": "\\ud800\\u0041"}\n',
    '{"a": 1, "a": 2}\n',  # a key twice: the last value, at the first key's place
    '{"a": 1}\r{"a": 2}\n',  # a lone carriage return ends a line in text mode
]


@pytest.mark.parametrize("text", VALID_BUT_REFUSED)
def test_valid_json_the_reader_refuses_gives_the_same_store(tmp_path, text):
    assert _feed(text) < 0
    path = tmp_path / "v.jsonl"
    path.write_text(text, encoding="utf-8", newline="")
    _reads_as_reference(path, read_jsonl(path))


MALFORMED = [
    '{"a": 1',  # truncated
    '{"a": 1}\n{"a": ',
    '{"a":',  # the file ends after a key
    '{"a": "abc}\n',
    '{"a": 1} {"a": 2}\n',  # two records on one line
    '{"a": 1}{"a": 2}\n',
    '{"a": 1},\n',
    '{"a":\n1}\n',  # a record split over two lines
    '{"a": [\n"x"]}\n',
    '{"a": "\\x"}\n',  # invalid escapes
    '{"a": "\\u12"}\n',
    '{"a": "\\u12g4"}\n',
    '{"a": "tab\there"}\n',  # an unescaped control character
    '{"a": 01}\n',
    '{"a": 1.}\n',
    '{"a": .5}\n',
    '{"a": -}\n',
    '{"a": 1e}\n',
    '{"a": +1}\n',
    '{"a": tru}\n',
    '{"a": nul}\n',
    '{"a": True}\n',
    "{'a': 1}\n",
    '{"a": 1,}\n',
    "{a: 1}\n",
    '["a"]\n',
    "1\n",
    '{"a": 1}\n\n{"a": 2}\n',  # a blank line inside
    '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n",  # deep nesting
    '{"a": ' + '{"b": ' * 5000 + "1" + "}" * 5000 + "}\n",
    "\x0c\n",
    '{"a": 1}\x0c\n',  # after the object only json's whitespace: not str.strip's
    '{"a": 1}\u00a0\n',
    '{"a": 1}\u2028\n',
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_lines_fail_as_iter_jsonl_fails(tmp_path, text):
    assert _feed(text) < 0 or text.strip() == ""
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    try:
        records = read_jsonl(path)
    except ValueError as exc:
        with pytest.raises(type(exc)) as got:
            read_attribute_store(path)
        assert str(got.value) == str(exc)
    else:  # deep but valid: the same store (or the same error)
        try:
            expected = AttributeStore.from_input(records, len(records))
        except (TypeError, ValueError) as exc:
            with pytest.raises(type(exc)):
                read_attribute_store(path)
        else:
            _same_store(read_attribute_store(path), expected)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "\xff"}\n',  # not UTF-8
        b'{"a": "\xc0\xaf"}\n',  # overlong
        b'{"a": "\xed\xa0\x80"}\n',  # a surrogate in UTF-8
        b'{"a": "\xe2\x82"}\n',  # cut short
        b'{"a": "\xf4\x90\x80\x80"}\n',  # beyond U+10FFFF
        b"\xef\xbb\xbf" + b'{"a": 1}\n',  # a byte order mark
    ],
)
def test_bytes_that_are_not_utf8_fail_as_the_text_reader_fails(tmp_path, data):
    assert _feed(data) < 0
    path = tmp_path / "b.jsonl"
    path.write_bytes(data)
    try:
        read_jsonl(path)
    except (ValueError, UnicodeDecodeError) as exc:
        with pytest.raises(type(exc)) as got:
            read_attribute_store(path)
        assert str(got.value) == str(exc)
    else:
        raise AssertionError("json read it")


def test_blocks_cut_between_lines_and_a_long_line(tmp_path, native_only, monkeypatch):
    monkeypatch.setattr(attribute_file, "_NATIVE_BLOCK", 7)
    monkeypatch.setattr(attribute_file, "_WORDS_AT_ONCE", 3)  # strings taken 3 at a time
    records = _records(80, seed=4) + [{"cat": "x" * 100, "tags": ["y" * 50] * 5}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    _check_native(path, records)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # no final line break
    _check_native(path, records)


def test_progress_and_a_raising_callback(tmp_path, monkeypatch):
    monkeypatch.setattr(attribute_file, "_NATIVE_BLOCK", 1000)
    records = _records(300, seed=5)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    size = path.stat().st_size
    calls = []
    read_attribute_store(path, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert calls[-1] == (size, size) and len(calls) > 10
    assert done == sorted(done) and all(d < size for d in done[:-1])
    for error in (KeyboardInterrupt, RuntimeError):
        for at in (1, len(calls) // 2, len(calls) - 1):
            seen = []

            def stop(d, t, at=at, error=error):
                seen.append(d)
                if len(seen) == at:
                    raise error("stop")

            with pytest.raises(error, match="stop"):
                read_attribute_store(path, progress=stop)
            assert len(seen) == at


def test_progress_never_goes_back_when_a_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(attribute_file, "_NATIVE_BLOCK", 20_000)
    lines = [json.dumps({"a": i, "s": f"x{i}"}) for i in range(8000)]
    lines[7500] = '{"a": 7500, "a": 7500}'  # a key twice: refused late, read again by Python
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n")
    calls = []
    store = read_attribute_store(path, progress=lambda d, t: calls.append(d / t), block_lines=50)
    assert store.column("a")[7500] == 7500
    assert calls == sorted(calls) and calls[-1] == 1.0


def test_an_empty_key_fails_as_from_input_fails(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"": 1, "b": 2}\n')
    records = read_jsonl(path)
    with pytest.raises(TypeError) as expected:
        AttributeStore.from_input(records, len(records))
    for native in (True, False):
        with pytest.raises(TypeError) as got:
            read_attribute_store(path, native=native)
        assert str(got.value) == str(expected.value)


def test_reader_arguments():
    reader = _core.JsonlColumns()
    with pytest.raises((TypeError, ValueError)):
        reader.feed("text")
    with pytest.raises((TypeError, ValueError)):
        reader.feed(np.zeros((2, 2), np.uint8))
    assert reader.feed(b'{"a": 1}\n{"a": 2}\n', 1) == 1 and reader.rows == 1
    columns = reader.finish()
    assert [c["name"] for c in columns] == ["a"] and columns[0]["slots"].tolist() == [1]
    reader = _core.JsonlColumns()
    reader.feed('{"s": "x", "t": ["y", "x"]}\n{"s": "z"}\n'.encode())
    columns = reader.finish()
    assert [c["n_words"] for c in columns] == [2, 2]
    with pytest.raises(IndexError):
        reader.words(2, 0, 1)
    with pytest.raises(IndexError):
        reader.words(0, 1, 3)
    assert reader.words(0, 0, 1) == ["x"] and reader.words(0, 1, 2) == ["z"]
    assert reader.words(1, 0, 2) == ["y", "x"]


def test_mutated_lines_are_read_as_json_reads_them_or_refused(tmp_path):
    """Random edits of valid lines: what the engine's reader takes, json takes
    with the same values; nothing crashes or hangs."""
    rng = np.random.default_rng(11)
    base = [json.dumps(r, ensure_ascii=bool(i % 2)) for i, r in enumerate(_records(60, seed=8))]
    base += ['{"s": "\\ud83d\\ude00\\n\\u00e9", "t": ["\\"", "\\\\"], "n": -1.5e-3}']
    alphabet = list('{}[]",:\\/ -+.0123456789eEtrufalsn\tuU\x00\x1f\x7f') + ["é", "😀", "\ud800"]
    accepted = 0
    for trial in range(800):
        line = list(base[trial % len(base)])
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(line) + 1))
            action = rng.integers(0, 3)
            if action == 0 and line:
                del line[min(at, len(line) - 1)]
            elif action == 1:
                line.insert(at, str(rng.choice(alphabet)))
            elif line:
                line[min(at, len(line) - 1)] = str(rng.choice(alphabet))
        text = "".join(line)
        reader = _core.JsonlColumns()
        if reader.feed(text.encode("utf-8", "surrogatepass") + b"\n") != 1:
            continue
        accepted += 1
        record = json.loads(text)  # taken by the engine: json must take it too
        path = tmp_path / "m.jsonl"
        path.write_text(text + "\n", encoding="utf-8")
        try:
            expected = AttributeStore.from_input([record], 1)
        except (TypeError, ValueError):
            continue
        _same_store(read_attribute_store(path), expected)
    assert accepted > 50
