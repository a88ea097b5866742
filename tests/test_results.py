import os
import pathlib
import stat

import pytest

from minignn import results


def test_write_section_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\nsome words\n")
    results.write_section("alpha", "- command: `a`\n\n| x |\n", path)
    results.write_section("beta", "- command: `b`", path)
    results.write_section("alpha", "- command: `a2`", path)
    text = path.read_text()
    assert text.startswith("# Benchmark results\n\nsome words\n")
    assert text.count("<!-- alpha:begin -->") == 1 and text.count("<!-- beta:end -->") == 1
    assert text.index("alpha:begin") < text.index("beta:begin")  # replaced in place, not appended again
    assert results.read_section("alpha", path) == "- command: `a2`"
    assert results.section_fields(results.read_section("beta", path)) == {"command": "b"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_a_failed_write_leaves_the_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "RESULTS.md"
    results.write_section("alpha", "one", path)
    before = path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        results.write_section("alpha", "two", path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_missing_file_or_section_or_bad_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        results.read_section("alpha", tmp_path / "nope.md")
    (tmp_path / "R.md").write_text("# nothing\n")
    with pytest.raises(ValueError, match="has no alpha section"):
        results.read_section("alpha", tmp_path / "R.md")
    with pytest.raises(ValueError, match="section name"):
        results.read_section("a b", tmp_path / "R.md")


def test_the_packaged_copy_is_the_repository_file():
    """The wheel ships benchmarks/RESULTS.md as minignn/benchmark_results.md (a link in the repository)."""
    packaged = pathlib.Path(results.__file__).with_name("benchmark_results.md")
    repo = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "RESULTS.md"
    assert packaged.read_text() == repo.read_text()
    assert results.results_path() == repo
    for name in ("aggregation", "qm7"):
        assert "command" in results.section_fields(results.read_section(name))


def test_section_table_reads_the_first_table_by_header():
    body = ("- command: `x`\n\n| model | atom stab. (%) | note |\n| --- | ---: | --- |\n"
            "| EDM | 98.7 | published |\n| here | - |  |\n\nafter the table\n\n| other | table |\n| --- | --- |\n| 1 | 2 |\n")
    assert results.section_table(body) == [{"model": "EDM", "atom stab. (%)": "98.7", "note": "published"},
                                           {"model": "here", "atom stab. (%)": "-", "note": ""}]


def test_section_table_of_a_header_alone_is_empty():
    assert results.section_table("| a | b |\n| --- | --- |\n") == []


def test_section_table_rejects_a_missing_table_or_a_broken_row():
    with pytest.raises(ValueError, match="no markdown table"):
        results.section_table("- command: `x`\n")
    with pytest.raises(ValueError, match="a table row has 3 cells but the header has 2"):
        results.section_table("| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n")


def test_upsert_row_replaces_its_own_row_and_keeps_the_others(tmp_path):
    from minignn.results import read_section, section_table, upsert_row

    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\nintro kept\n")
    header = ["change", "value"]
    upsert_row("abl", "## Ablations\n\n- note: one", header, {"change": "a", "value": 1}, key="change", path=path)
    upsert_row("abl", "## Ablations\n\n- note: two", header, {"change": "b", "value": 2}, key="change", path=path)
    upsert_row("abl", "## Ablations\n\n- note: three", header, {"change": "a", "value": 3}, key="change", path=path)
    body = read_section("abl", path)
    assert section_table(body) == [{"change": "b", "value": "2"}, {"change": "a", "value": "3"}]
    assert "- note: three" in body and "note: one" not in body and path.read_text().startswith("# Benchmark results\n\nintro kept")
    with pytest.raises(ValueError, match=r"row must give every column \['change', 'value'\] \(missing \['value'\]\)"):
        upsert_row("abl", "", header, {"change": "c"}, key="change", path=path)
