"""Sample submissions as students would hand them in: the released notebook with their code.

tests/submissions/<chapter>/<variant>.py holds the code of every solution cell of a chapter,
each introduced by `# %% <part>`; expected.json says which test cells each variant passes.
tests/submissions/hostile.py adds the hostile submissions the specification lists.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from dlcourse.course import grade_id_of

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def parse_variant(path: Path) -> dict[str, str]:
    """{part: code} from a variant file's `# %% <part>` sections."""
    sections: dict[str, str] = {}
    current = None
    for line in path.read_text().splitlines(keepends=True):
        match = re.match(r"^# %% (\w+)\s*$", line)
        if match:
            current = match.group(1)
            sections[current] = ""
        elif current is not None:
            sections[current] += line
    return {part: code.strip() + "\n" for part, code in sections.items()}


def execute_variant(path: Path, edit=None) -> dict:
    """The variant's cells executed in file order in one fresh namespace, as in a notebook.

    `edit(part, source) -> source` may alter a cell first (to make a one-off mistake).
    """
    namespace = {"__name__": f"submission_{path.stem}"}
    for part, source in parse_variant(path).items():
        exec(compile(edit(part, source) if edit else source, f"{path.name}:{part}", "exec"), namespace)
    return namespace


class Failure(str):
    """A failing check's message, with the key of the known mistake it names (None if it names none)."""

    mistake: str | None = None


def local_verdicts(parts: dict, namespace: dict) -> dict[str, str | None]:
    """{test cell grade_id: None if it passes, else the failure message (a Failure)}, checked in this process."""
    from autograder.checks import CheckFailed, LocalImplementation

    result = {}
    for part, check in parts.items():
        for hidden in (False, True):
            grade_id = grade_id_of(part, hidden)
            try:
                check(LocalImplementation(dict(namespace)), hidden)
                result[grade_id] = None
            except CheckFailed as failure:
                result[grade_id] = Failure(str(failure))
                result[grade_id].mistake = failure.mistake
    return result


def expected_keys(keys: str | tuple[str, ...]) -> tuple[str, ...]:
    """A sample's KEYWORDS entry as a tuple: the key of its mistake, or the keys of a mistake that
    shows as different diagnoses in different checks (a forward pass wrong, and so its backward)."""
    return (keys,) if isinstance(keys, str) else tuple(keys)


def names_the_mistake(keys: str | tuple[str, ...], failure: Failure) -> bool:
    """Whether a failure names the sample's expected diagnosis: its mistake key is the key (one of the keys)."""
    return getattr(failure, "mistake", None) in expected_keys(keys)


def released_notebook(chapter: str, language: str | None = None) -> dict:
    """notebooks/<chapter>/, or the edition's notebooks/<language>/<chapter>/."""
    folder = ROOT / "notebooks" / language / chapter if language else ROOT / "notebooks" / chapter
    return json.loads((folder / f"{chapter}.ipynb").read_text())


def fill_in(chapter: str, code: dict[str, str], language: str | None = None) -> dict:
    """The released notebook (of an edition, with `language`) with each solution cell's source replaced by the student's code."""
    nb = copy.deepcopy(released_notebook(chapter, language))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in code:
            cell["source"] = code[meta["grade_id"]]
    return nb


def variants(chapter: str) -> dict[str, dict[str, str]]:
    return {path.stem: parse_variant(path) for path in sorted((SUBMISSIONS / chapter).glob("*.py"))}


def expected(chapter: str) -> dict[str, dict[str, bool]]:
    return json.loads((SUBMISSIONS / chapter / "expected.json").read_text())


def write(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def chapter_mistakes(parts: dict) -> dict:
    """{key: Mistake} of the chapter whose PARTS are `parts` (every part holds its chapter's MISTAKES)."""
    return {key: mistake for part in parts.values() for key, mistake in getattr(part, "mistakes", {}).items()}


def assert_sample_files_complete(chapter: str, parts: dict, keywords: dict[str, str | tuple[str, ...]]) -> None:
    """Every sample file of `chapter` has a verdict for every test cell; every mistake has a diagnosis keyword,
    the key (or keys) of a known mistake of the chapter."""
    folder = SUBMISSIONS / chapter
    want = expected(chapter)
    stems = sorted(p.stem for p in folder.glob("*.py"))
    assert stems == sorted(want)
    assert sum(s.startswith("correct_") for s in stems) >= 3
    assert sorted(s for s in stems if s.startswith("mistake_")) == sorted(keywords)
    known = chapter_mistakes(parts)
    unknown = {stem: keys for stem, keys in keywords.items() if not set(expected_keys(keys)) <= set(known)}
    assert not unknown, f"KEYWORDS that are no mistake key of {chapter}: {unknown}"
    for stem in stems:
        assert list(parse_variant(folder / f"{stem}.py")) == list(parts), stem
        assert sorted(want[stem]) == sorted(grade_id_of(p, hidden) for p in parts for hidden in (False, True))


def assert_expected_verdicts(chapter: str, stem: str, parts: dict, keywords: dict[str, str | tuple[str, ...]]) -> None:
    """The sample `stem` passes and fails exactly the cells expected.json says, each failure naming its
    mistake: the key KEYWORDS gives (or one of its keys, each of which some failure names)."""
    want = expected(chapter)[stem]
    got = local_verdicts(parts, execute_variant(SUBMISSIONS / chapter / f"{stem}.py"))
    wrong = {cell: message for cell, message in got.items() if (message is None) != want[cell]}
    assert not wrong, f"{stem}: unexpected verdicts (None = passed): {wrong}"
    if stem in keywords:
        failures = [message for message in got.values() if message is not None]
        named = [(message.mistake, str(message)) for message in failures]
        assert failures and all(names_the_mistake(keywords[stem], message) for message in failures), (stem, named)
        assert {key for key, _ in named} == set(expected_keys(keywords[stem])), (stem, named)
