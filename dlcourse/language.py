"""The language of dlcourse's own figure labels and progress bars, and a font that can draw it.

A translated edition of a chapter calls `language.use("ko")` once, near the top; English needs
nothing. Figures drawn by `dlcourse.plots` and bars shown by `dlcourse.training` then label
themselves through `word`, and matplotlib gets a font with the edition's letters (NanumGothic for
Korean: Debian's `fonts-nanum`; on Colab it is installed on first use).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_current = "en"

WORDS = {
    "ko": {
        "training": "훈련",
        "validation": "검증",
        "epoch": "에포크",
        "batch": "배치",
        "cross-entropy loss": "교차 엔트로피 손실",
        "accuracy": "정확도",
        "count": "개수",
        "Learning curves": "학습 곡선",
        "mean and spread (+-1 std) over seeds": "시드별 평균과 퍼짐(±1 표준편차)",
        "val acc": "검증 정확도",
        "val loss": "검증 손실",
        "train acc": "훈련 정확도",
        "train loss": "훈련 손실",
        "Values per layer": "층별 값의 분포",
        "value": "값",
        "std": "표준편차",
    },
}

FONTS = {"ko": ("NanumGothic", "fonts-nanum")}  # font family, the Debian/Ubuntu package that has it


def current() -> str:
    """The language in use: "en" unless `use` chose another."""
    return _current


def word(english: str) -> str:
    """`english` in the language in use (itself where there is no translation)."""
    return WORDS.get(_current, {}).get(english, english)


def use(language: str) -> None:
    """Label dlcourse's figures and bars in `language` and give matplotlib a font for it; print what was set."""
    global _current
    if language != "en" and language not in WORDS:
        raise ValueError(f"no such language {language!r}: dlcourse speaks en, {', '.join(WORDS)}")
    _current = language
    if language == "en":
        return
    family, package = FONTS[language]
    if not _install_font(family, package):
        message = (f"글꼴 {family}을(를) 찾지 못해 그림의 한글이 네모로 보일 수 있습니다. "
                   f"`sudo apt-get install {package}`로 설치한 뒤 커널을 다시 시작하세요.")
        print(message)
        return
    import matplotlib

    matplotlib.rcParams["font.family"] = family
    matplotlib.rcParams["axes.unicode_minus"] = False  # NanumGothic has no U+2212 minus sign
    print(f"dlcourse labels in {language}, figure font {family}")


def _font_files(family: str) -> list[Path]:
    from matplotlib import font_manager

    return [Path(path) for path in font_manager.findSystemFonts()
            if Path(path).stem.lower().startswith(family.lower())]


def _install_font(family: str, package: str) -> bool:
    """Make `family` known to matplotlib: from the system's fonts, or on Colab by installing `package`."""
    from matplotlib import font_manager

    files = _font_files(family)
    if not files and "google.colab" in sys.modules and shutil.which("apt-get"):
        subprocess.run(["apt-get", "-qq", "install", "-y", package], check=False, capture_output=True)
        files = _font_files(family)
    for path in files:
        font_manager.fontManager.addfont(str(path))
    return _known(family)


def _known(family: str) -> bool:
    """Whether matplotlib's font manager has a font of `family`."""
    from matplotlib import font_manager

    return any(font.name == family for font in font_manager.fontManager.ttflist)
