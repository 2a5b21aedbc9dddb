"""Translated editions: code changes nowhere but in shown strings, stale translations are caught,
and the glossary holds in every table (autograder/translations.py, translations/)."""
import copy
import re
import tomllib

import pytest

from autograder import release, translations

GLOSSARY = tomllib.loads((translations.TRANSLATIONS / "ko" / "glossary.toml").read_text(encoding="utf-8"))["terms"]
TABLES = sorted((translations.TRANSLATIONS / "ko").glob("*.toml"))
CHAPTER_TABLES = [path for path in TABLES if path.stem != "glossary"]

CELL = 'print(f"{n} batches of 128: {seconds:.3f} s")\nax.set_title("Class balance")\nruns = {"plain": 1}\n'


def test_only_the_text_of_shown_strings_changes_and_placeholders_may_move():
    assert translations.shown_strings(CELL) == ["{n} batches of 128: {seconds:.3f} s", "Class balance"]
    out = translations.translate_code(CELL, {"{n} batches of 128: {seconds:.3f} s": "{seconds:.3f}초, 128개씩 {n}개 배치",
                                             "Class balance": "클래스 균형"})
    assert out == 'print(f"{seconds:.3f}초, 128개씩 {n}개 배치")\nax.set_title("클래스 균형")\nruns = {"plain": 1}\n'


@pytest.mark.parametrize("strings", [
    {"{n} batches of 128: {seconds:.3f} s": "{n} 배치, {seconds * 1000:.0f} ms"},  # a changed placeholder
    {"{n} batches of 128: {seconds:.3f} s": "배치 {n}개"},                        # a dropped placeholder
    {"Class balance": 'x" + open("/etc/passwd").read() + "'},                  # code smuggled through a quote
    {"Class balance": "줄\n바꿈"},                                               # a raw newline breaks the literal
])
def test_a_translation_that_changes_the_code_is_refused(strings):
    with pytest.raises(translations.TranslationError, match="changes the code|not valid Python"):
        translations.translate_code(CELL, strings)


def test_strings_outside_titles_labels_bars_and_prints_are_code():
    with pytest.raises(translations.TranslationError, match="only those may change"):
        translations.translate_code(CELL, {"plain": "기본"})


def test_a_changed_english_cell_makes_its_translation_stale(tmp_path, monkeypatch):
    """The staleness check fails on a changed English cell, and `review` clears it for that cell only."""
    english = release.SOLUTIONS / "00_setup" / "00_setup.ipynb"
    import nbformat

    nb = nbformat.read(english, as_version=4)
    markdown = next(cell for cell in nb.cells if cell.cell_type == "markdown")
    code = next(cell for cell in nb.cells if translations.shown_strings(cell.source))
    shown = translations.shown_strings(code.source)[0]
    monkeypatch.setattr(translations, "TRANSLATIONS", tmp_path)
    (tmp_path / "ko").mkdir()
    (tmp_path / "ko" / "00_setup.toml").write_text(
        f'[cells."{markdown.id}"]\nenglish = "{translations.fingerprint(markdown.source)}"\ntext = \'\'\'\n번역된 문단입니다.\n\'\'\'\n\n'
        f'[cells."{code.id}"]\nenglish = "{translations.fingerprint(code.source)}"\n'
        f'[cells."{code.id}".strings]\n{translations.json.dumps(shown)} = "번역"\n', encoding="utf-8")
    table = translations.load("ko", "00_setup")
    assert set(table) == {markdown.id, code.id}
    problems = translations.problems("ko", "00_setup", nb)
    assert not [p for p in problems if "changed in English" in p]

    changed = copy.deepcopy(nb)
    next(cell for cell in changed.cells if cell.id == markdown.id).source += "\n\nOne more English sentence."
    stale = [p for p in translations.problems("ko", "00_setup", changed) if "changed in English" in p]
    assert len(stale) == 1 and markdown.id in stale[0] and "translations review ko 00_setup" in stale[0]

    monkeypatch.setattr(translations, "_english", lambda chapter: changed)
    assert translations.review("ko", "00_setup", []) == [markdown.id]
    assert not [p for p in translations.problems("ko", "00_setup", changed) if "changed in English" in p]
    assert translations.load("ko", "00_setup")[code.id].english == table[code.id].english  # the other cell untouched


def test_missing_still_english_and_orphan_translations_are_problems(tmp_path, monkeypatch):
    import nbformat

    nb = nbformat.read(release.SOLUTIONS / "00_setup" / "00_setup.ipynb", as_version=4)
    first = nb.cells[0]
    monkeypatch.setattr(translations, "TRANSLATIONS", tmp_path)
    (tmp_path / "ko").mkdir()
    (tmp_path / "ko" / "00_setup.toml").write_text(
        f'[cells."{first.id}"]\nenglish = "{translations.fingerprint(first.source)}"\ntext = """\nChapter 00 in English still.\n"""\n\n'
        '[cells."gone"]\nenglish = "000000000000"\ntext = "사라진 셀"\n', encoding="utf-8")
    problems = translations.problems("ko", "00_setup", nb)
    assert any(first.id in p and "still in English" in p for p in problems), problems
    assert any("'gone'" in p and "no longer in solutions" in p for p in problems), problems
    missing = [p for p in problems if "has no translation" in p]
    assert len(missing) == sum(translations.needs_translation(cell) for cell in nb.cells) - 1


def test_a_malformed_table_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(translations, "TRANSLATIONS", tmp_path)
    (tmp_path / "ko").mkdir()
    for text, expected in [('[cells."a"]\ntext = "x"\n', "needs `english"), ("[cells\n", "not valid TOML"),
                           ('[cells."a"]\nenglish = "x"\ncode = "import os"\n', "unknown keys")]:
        (tmp_path / "ko" / "00_setup.toml").write_text(text, encoding="utf-8")
        with pytest.raises(translations.TranslationError, match=expected):
            translations.load("ko", "00_setup")


def prose(path) -> str:
    """A table's translated text in cell order: markdown texts and string values."""
    cells = tomllib.loads(path.read_text(encoding="utf-8")).get("cells", {})
    return "\n".join([entry.get("text", "") for entry in cells.values()]
                     + [value for entry in cells.values() for value in entry.get("strings", {}).values()])


@pytest.mark.parametrize("path", CHAPTER_TABLES, ids=lambda p: p.stem)
def test_the_glossary_holds_in_every_table(path):
    text = prose(path)
    wrong = [(term["english"], avoided) for term in GLOSSARY for avoided in term.get("avoid", []) if avoided in text]
    assert not wrong, f"{path.name}: renderings the glossary avoids: {wrong}"
    markdown = "\n".join(entry.get("text", "") for entry in tomllib.loads(path.read_text(encoding="utf-8"))["cells"].values())
    unexplained = []
    for term in GLOSSARY:
        if term.get("first_use") and term["korean"] in markdown:
            after = markdown[markdown.index(term["korean"]) + len(term["korean"]):][:80]
            if not re.match(r"\s*\([^)]*" + re.escape(term["english"]), after, re.IGNORECASE):
                unexplained.append(f"{term['korean']} ... {after[:30]!r}")
    assert not unexplained, f"{path.name}: first use without the English in parentheses: {unexplained}"


def test_the_glossary_is_well_formed():
    assert len({term["english"] for term in GLOSSARY}) == len(GLOSSARY)
    for term in GLOSSARY:
        assert set(term) <= {"english", "korean", "avoid", "first_use"}, term
        assert term["korean"] not in term.get("avoid", []), term


EDITION_NOTEBOOKS = sorted((release.SOLUTIONS / "ko").glob("*/*.ipynb")) + sorted((release.NOTEBOOKS / "ko").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", EDITION_NOTEBOOKS, ids=lambda p: f"{p.parents[2].name}/ko/{p.parent.name}")
def test_korean_notebooks_open_themselves_in_colab_and_set_their_language(path):
    import nbformat

    from dlcourse import course

    nb = nbformat.read(path, as_version=4)
    badge = nb.cells[0].source
    assert f"({course.colab_url(f'notebooks/ko/{path.parent.name}/{path.name}')})" in badge
    assert "google.colab" in nb.cells[1].source  # the English Colab cell, unchanged
    assert nb.cells[2].id == translations.LANGUAGE_CELL_ID and 'language.use("ko")' in nb.cells[2].source
    assert nb.metadata["dlcourse"]["language"] == "ko"
    assert translations.SCRIPTS["ko"].search(badge)


def test_the_korean_readme_links_every_korean_chapter_and_back_to_english():
    from dlcourse import course

    text = (release.ROOT / "README.ko.md").read_text(encoding="utf-8")
    assert text.startswith("[English](README.md)")
    for chapter in release.chapters():
        assert f"({course.colab_url(f'notebooks/ko/{chapter}/{chapter}.ipynb')})" in text, chapter
    assert "(README.ko.md)" in (release.ROOT / "README.md").read_text(encoding="utf-8")
