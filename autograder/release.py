"""Generate notebooks/ (the student versions) from solutions/ with real nbgrader.

`python -m autograder release` regenerates every chapter; `--check` regenerates into a
temporary folder and fails, listing the files, where notebooks/ differs from what it makes.

Steps, per chapter: strip outputs from the solution notebook, point its Colab links at the
repository named in `dlcourse.course` and tag its test cells `raises-exception`; copy it into a throw-away nbgrader course folder; run
`nbgrader generate_assignment` there (it removes solutions and hidden tests and records cell
checksums); copy the result into notebooks/<chapter>/.
"""
from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from dlcourse import course

ROOT = course.ROOT
SOLUTIONS = course.SOLUTIONS
NOTEBOOKS = course.NOTEBOOKS

_COLAB_LINK = re.compile(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/")
_CLONE_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+\.git")


def nbgrader_environment() -> dict[str, str]:
    """nbgrader runs `alembic` by name: put this interpreter's bin/ first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


CHAPTER_NAME = re.compile(r"\d\d_[\w-]+")  # 00_setup, 02_dropout, ...; solutions/ko/ is an edition, not a chapter


def chapters(root: Path = SOLUTIONS) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and CHAPTER_NAME.fullmatch(p.name))


def point_links_at_repository(text: str) -> str:
    """Rewrite Colab badge targets and the clone URL to dlcourse.course's repository and branch."""
    text = _COLAB_LINK.sub(f"colab.research.google.com/github/{course.GITHUB_REPOSITORY}/blob/{course.DEFAULT_BRANCH}/", text)
    return _CLONE_URL.sub(course.clone_url(), text)


RAISES = "raises-exception"


def is_test_cell(cell) -> bool:
    """An autograded test cell: nbgrader grades it by whether it raises."""
    return course.cell_role(cell) == course.TEST


def untagged_test_cells(nb) -> list[str]:
    """grade_ids of test cells without the `raises-exception` tag (Run All would stop at them)."""
    return [cell.metadata.nbgrader.grade_id for cell in nb.cells
            if is_test_cell(cell) and RAISES not in cell.metadata.get("tags", [])]


def normalize_solution(path: Path) -> bool:
    """Strip outputs and execution counts, fix repository links, tag test cells; return True if the file changed.

    A test cell fails by raising. JupyterLab's Run All (and nbclient) goes past a cell tagged
    `raises-exception`, so a student who has not written a part yet still sees the rest of the
    chapter; nbgrader ignores the tag and still counts the raising cell as failed.
    """
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if is_test_cell(cell) and RAISES not in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), RAISES]
        cell.source = point_links_at_repository(cell.source)
    updated = nbformat.writes(nb) + "\n"
    if updated != original:
        path.write_text(updated, encoding="utf-8")
        return True
    return False


def generate(chapter: str, destination: Path, solutions: Path = SOLUTIONS) -> None:
    """Run nbgrader generate_assignment on solutions/<chapter> and put the release in destination."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-release-") as tmp:
        course_dir = Path(tmp)
        shutil.copytree(solutions / chapter, course_dir / "source" / chapter,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", chapter, "--force",
             f"--CourseDirectory.root={course_dir}",
             f"--CourseDirectory.db_url=sqlite:///{course_dir / 'gradebook.db'}",
             "--log-level=WARN"],
            cwd=course_dir, env=nbgrader_environment(), capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {chapter} failed:\n{result.stdout}\n{result.stderr}")
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(course_dir / "release" / chapter, destination)


README = ROOT / "README.md"
READMES = (README, ROOT / "README.ko.md")  # the English README and the Korean edition's


def release(chapter_names: list[str] | None = None) -> list[str]:
    """Normalize the solutions and README links, regenerate notebooks/; return the chapters released."""
    names = chapter_names or chapters()
    for path in READMES:
        readme = path.read_text(encoding="utf-8")
        if point_links_at_repository(readme) != readme:
            path.write_text(point_links_at_repository(readme), encoding="utf-8")
            print(f"{path.name}: Colab links now point at {course.GITHUB_REPOSITORY}")
    for name in names:
        for notebook in sorted((SOLUTIONS / name).glob("*.ipynb")):
            if normalize_solution(notebook):
                print(f"normalized {notebook.relative_to(ROOT)} (outputs stripped, links updated)")
        generate(name, NOTEBOOKS / name)
        print(f"released {name} -> notebooks/{name}/")
        for language in editions(name):
            write_edition(language, name, SOLUTIONS / language / name)
            generate(name, NOTEBOOKS / language / name, solutions=SOLUTIONS / language)
            print(f"released {name} in {language} -> solutions/{language}/{name}/, notebooks/{language}/{name}/")
    return names


def editions(chapter: str) -> list[str]:
    """The languages `chapter` has a translation table for (translations/<language>/<chapter>.toml)."""
    from autograder import translations

    return [language for language in translations.LANGUAGES if translations.table_path(language, chapter).is_file()]


def write_edition(language: str, chapter: str, folder: Path) -> None:
    """solutions/<language>/<chapter>/<chapter>.ipynb: the English solution with the translations applied."""
    from autograder import translations

    nb = translations.translated_notebook(language, chapter)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / f"{chapter}.ipynb").write_text(point_links_at_repository(nbformat.writes(nb) + "\n"), encoding="utf-8")


def differences(chapter_names: list[str] | None = None) -> list[str]:
    """Files where notebooks/ differs from a fresh generation (missing, extra or changed)."""
    problems = []
    names = chapter_names or chapters()
    for path in READMES:
        readme = path.read_text(encoding="utf-8")
        if point_links_at_repository(readme) != readme:
            problems.append(f"{path.name}: links not pointing at {course.GITHUB_REPOSITORY}")
    for name in names:
        for notebook in sorted((SOLUTIONS / name).glob("*.ipynb")):
            text = notebook.read_text(encoding="utf-8")
            nb = nbformat.reads(text, as_version=4)
            if any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells):
                problems.append(f"{notebook.relative_to(ROOT)}: carries outputs (run `python -m autograder release`)")
            if point_links_at_repository(text) != text:
                problems.append(f"{notebook.relative_to(ROOT)}: links not pointing at {course.GITHUB_REPOSITORY}")
            if untagged_test_cells(nb):
                problems.append(f"{notebook.relative_to(ROOT)}: test cells {untagged_test_cells(nb)} lack the "
                                f"{RAISES!r} tag (run `python -m autograder release`)")
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / name
            generate(name, fresh)
            problems += _compare_trees(fresh, NOTEBOOKS / name, f"notebooks/{name}")
        problems += _edition_differences(name)
    stale = sorted(set(chapters(NOTEBOOKS)) - set(chapters())) if NOTEBOOKS.is_dir() else []
    problems += [f"notebooks/{name}: no such chapter in solutions/" for name in stale]
    from autograder import translations

    for language in translations.LANGUAGES:
        translated = {n for n in chapters() if language in editions(n)}
        for root in (SOLUTIONS / language, NOTEBOOKS / language):
            orphans = sorted(set(chapters(root)) - translated) if root.is_dir() else []
            problems += [f"{root.relative_to(ROOT)}/{n}: no translations/{language}/{n}.toml makes it" for n in orphans]
    return problems


def _edition_differences(chapter: str) -> list[str]:
    """For each translated edition of `chapter`: its translation problems, then whether the committed
    solutions/<language>/ and notebooks/<language>/ folders are what the generator makes."""
    from autograder import translations

    problems = []
    for language in editions(chapter):
        with tempfile.TemporaryDirectory() as tmp:
            solution, student = Path(tmp) / "solutions" / chapter, Path(tmp) / "notebooks" / chapter
            try:
                write_edition(language, chapter, solution)  # checks the translations first
            except translations.TranslationError as error:
                problems += str(error).splitlines()
                continue
            generate(chapter, student, solutions=solution.parent)
            problems += _compare_trees(solution, SOLUTIONS / language / chapter, f"solutions/{language}/{chapter}")
            problems += _compare_trees(student, NOTEBOOKS / language / chapter, f"notebooks/{language}/{chapter}")
    return problems


def _compare_trees(fresh: Path, committed: Path, label: str) -> list[str]:
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} if committed.is_dir() else set()
    problems = [f"{label}/{p}: missing" for p in sorted(fresh_files - committed_files)]
    problems += [f"{label}/{p}: not made by the generator" for p in sorted(committed_files - fresh_files)]
    problems += [f"{label}/{p}: differs from the generated version"
                 for p in sorted(fresh_files & committed_files)
                 if not filecmp.cmp(fresh / p, committed / p, shallow=False)]
    return problems
