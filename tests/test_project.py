"""The project's set-up files agree with each other and with what the README promises."""
import re

from notebook_runner import ROOT


def pins(lines):
    return sorted(line.strip().lstrip("- ").strip() for line in lines if "==" in line and not line.strip().startswith("#"))


def test_environment_yml_has_the_same_pins_as_requirements():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    conda = pins((ROOT / "environment.yml").read_text().splitlines())
    assert requirements == conda
    assert "torch==2.14.1" in requirements and "torchvision==0.29.1" in requirements
    assert re.search(r"^\s*-\s*python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "make test" in ci


def test_ci_lints_first_with_the_readme_lint_command_and_the_quick_tests_skip_the_slow_ones():
    readme = (ROOT / "README.md").read_text()
    assert "make lint" in readme and "make quick" in readme
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "make lint" in ci and ci.index("make lint") < ci.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    assert "ruff check ." in re.search(r"^lint: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    quick = re.search(r"^quick: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert all(f"not {marker}" in quick for marker in ("notebook", "lab", "slow"))


def test_make_test_runs_the_whole_suite_with_the_venv_on_path():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = re.search(r"^test: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "pytest" in test_recipe and " -k " not in test_recipe and " -m " not in test_recipe.replace("-m pytest", "")
    assert re.search(r"^export PATH := \$\(CURDIR\)/\$\(VENV\)/bin:", makefile, re.M)


def test_every_chapter_in_the_readme_with_a_badge_exists():
    readme = (ROOT / "README.md").read_text()
    for path in re.findall(r"blob/main/(notebooks/[^)]+\.ipynb)", readme):
        assert (ROOT / path).is_file(), f"README links to missing {path}"
