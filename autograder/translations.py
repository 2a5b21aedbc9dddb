"""Translated editions of the chapters, generated from solutions/ and one translation table per chapter.

Code exists once, in English, in solutions/<chapter>/. A translation, translations/<language>/<chapter>.toml,
holds per cell id:
  english  the fingerprint of the English cell it was reviewed against (`fingerprint`);
  text     for a markdown cell: the whole translated cell;
  strings  for a code cell: English -> translated pieces of its string literals (plot titles, axis
           labels, legends, progress-bar descriptions, printed sentences). Only string literals
           change: `translate_code` proves the translated cell's syntax tree equals the English
           one's but for the text of its strings (placeholders of f-strings may change order).
`translated_notebook` builds the translated instructor notebook; `release` writes it to
solutions/<language>/<chapter>/ and generates the student version in notebooks/<language>/<chapter>/.
`problems` lists what stops a release (CI runs it through `release --check`): a cell without a
translation, a translation older than its English cell (the fingerprint differs: read the English
change, update the translation, then `python -m autograder translations review`), a translation
of a cell that no longer exists, a piece of string that the cell does not contain.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import tokenize
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LANGUAGES = ("ko",)
MAX_TABLE_BYTES = 2_000_000  # a chapter's table is a few hundred kB at most

# Calls and keyword arguments whose string arguments a reader sees in a figure or a progress bar.
_SHOWN_BY_CALL = {"set_title", "set_xlabel", "set_ylabel", "suptitle", "title", "xlabel", "ylabel",
                  "text", "annotate", "set_label", "print"}
_SHOWN_BY_KEYWORD = {"title", "label", "xlabel", "ylabel", "desc", "description"}

# The cell each translated edition gets after the Colab cell: figure text and dlcourse's own labels
# in the edition's language, with a font that can draw it.
LANGUAGE_CELL_ID = "dlcourse-language"
LANGUAGE_CELLS = {
    "ko": ("# 그림의 글자와 진행 막대를 한국어로 씁니다. 한글 글꼴(나눔고딕)이 없으면 Colab에서는 설치하고,\n"
           "# 다른 환경에서는 설치 방법을 알려 줍니다.\n"
           "from dlcourse import language\n\n"
           "language.use(\"ko\")"),
}


SCRIPTS = {"ko": re.compile(r"[\uac00-\ud7a3]")}  # a translated prose cell has at least one Hangul syllable


class TranslationError(ValueError):
    """A translation table that cannot be read or applied; the message names the file, the cell and the fix."""


def fingerprint(source: str) -> str:
    """What a translation was reviewed against: the first 12 hex digits of the English cell's SHA-256."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _shown_path(path: Path) -> str:
    """A path as the messages name it: relative to the course where it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def table_path(language: str, chapter: str) -> Path:
    if language not in LANGUAGES:
        raise TranslationError(f"no such edition {language!r}: the course has {', '.join(LANGUAGES)}")
    return TRANSLATIONS / language / f"{chapter}.toml"


@dataclass
class Entry:
    english: str
    text: str | None = None
    strings: dict[str, str] = field(default_factory=dict)


def load(language: str, chapter: str) -> dict[str, Entry]:
    """The chapter's translation table: cell id -> Entry (empty if there is no table yet)."""
    path = table_path(language, chapter)
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    if len(raw) > MAX_TABLE_BYTES:
        raise TranslationError(f"{_shown_path(path)}: {len(raw)} bytes, more than {MAX_TABLE_BYTES}")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise TranslationError(f"{_shown_path(path)} is not valid TOML: {error}") from None
    cells = data.get("cells", {})
    if not isinstance(cells, dict):
        raise TranslationError(f"{_shown_path(path)}: `cells` must be a table of cell ids")
    entries = {}
    for cell_id, entry in cells.items():
        where = f"{_shown_path(path)}, cell {cell_id!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("english"), str):
            raise TranslationError(f"{where}: needs `english = \"<fingerprint>\"`")
        text, strings = entry.get("text"), entry.get("strings", {})
        if text is not None and not isinstance(text, str):
            raise TranslationError(f"{where}: `text` must be a string")
        if not isinstance(strings, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in strings.items()):
            raise TranslationError(f"{where}: `strings` must map English strings to translated strings")
        unknown = set(entry) - {"english", "text", "strings"}
        if unknown:
            raise TranslationError(f"{where}: unknown keys {sorted(unknown)} (have english, text, strings)")
        entries[cell_id] = Entry(entry["english"], None if text is None else text.strip("\n"), dict(strings))
    return entries


# -- code cells: only string literals change ---------------------------------------------------

def shown_strings(source: str) -> list[str]:
    """The string literals of a code cell a reader sees: titles, labels, legends, bar descriptions, prints.

    Returned as written in the source (between the quotes, f-string placeholders included; each
    piece of an implicit concatenation on its own), which is how a translation table names them.
    """
    try:
        tokens = _shown_tokens(source)
    except (SyntaxError, tokenize.TokenError):
        return []
    found = [_literal_body(token.string) for token in tokens]
    return list(dict.fromkeys(body for body in found if re.search(r"[A-Za-z]{2}", body)))


def _shown_tokens(source: str) -> list[tokenize.TokenInfo]:
    """The STRING tokens a reader sees: the only ones a translation may change.

    A string counts when it is itself an argument of a call in _SHOWN_BY_CALL or a keyword in
    _SHOWN_BY_KEYWORD (or a piece of one: an f-string, a `+` or `%` of strings, either branch of an
    `if`, the template of `.format`). A string inside another call or a subscript there, such as
    `print(ROWS["baseline"])` or `print(make_mlp("sigmoid"))`, is code: translating it would break the cell.
    """
    tree = ast.parse(source)
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        shown = list(node.args) if name in _SHOWN_BY_CALL else []
        shown += [keyword.value for keyword in node.keywords if keyword.arg in _SHOWN_BY_KEYWORD]
        spans += [((part.lineno, part.col_offset), (part.end_lineno, part.end_col_offset))
                  for arg in shown for part in _text_parts(arg)]
    return [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.STRING and any(start <= token.start and token.end <= end for start, end in spans)]


def _text_parts(node: ast.AST) -> list[ast.AST]:
    """The string literals that make up the text of an expression (see _shown_tokens)."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return [node]
    if isinstance(node, ast.BinOp):
        return _text_parts(node.left) + (_text_parts(node.right) if isinstance(node.op, ast.Add) else [])
    if isinstance(node, ast.IfExp):
        return _text_parts(node.body) + _text_parts(node.orelse)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"):
        return _text_parts(node.func.value)
    return []


def _replace_text(body: str, english: str, translated: str, formatted: bool) -> str:
    """Replace `english` in a literal's body; in an f-string, a piece without braces only outside `{...}`."""
    if not formatted or "{" in english:
        return body.replace(english, translated)
    out, literal, depth, i = [], [], 0, 0
    while i < len(body):
        pair = body[i:i + 2]
        if depth == 0 and pair in ("{{", "}}"):
            literal.append(pair)
            i += 2
            continue
        char = body[i]
        if depth == 0 and char == "{":
            out.append("".join(literal).replace(english, translated))
            literal = []
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        (literal if depth == 0 and char != "}" else out).append(char)
        i += 1
    out.append("".join(literal).replace(english, translated))
    return "".join(out)


def _literal_body(token: str) -> str:
    """`f"epoch {n}"` -> `epoch {n}`: the text between the quotes, as written."""
    body = token.lstrip("rRbBfFuU")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return body[len(quote):-len(quote)] if body.endswith(quote) and len(body) >= 2 * len(quote) else body


def translate_code(source: str, strings: dict[str, str], where: str = "cell") -> str:
    """Replace each English piece by its translation inside the cell's shown strings (`shown_strings`), nowhere else."""
    if not strings:
        return source
    try:
        tokens = _shown_tokens(source)
    except (tokenize.TokenError, SyntaxError) as error:
        raise TranslationError(f"{where}: the English cell does not parse ({error})") from None
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    pieces, position, used = [], 0, set()
    ordered = sorted(strings.items(), key=lambda item: -len(item[0]))  # longer pieces first
    for token in tokens:
        start = offsets[token.start[0] - 1] + token.start[1]
        end = offsets[token.end[0] - 1] + token.end[1]
        text = source[start:end]
        prefix = len(text) - len(text.lstrip("rRbBfFuU"))
        body_start = prefix + (3 if text[prefix:prefix + 3] in ('"""', "'''") else 1)
        body_end = len(text) - (body_start - prefix)
        head, body, tail = text[:body_start], text[body_start:body_end], text[body_end:]
        formatted = "f" in text[:prefix].lower()
        for english, translated in ordered:
            if english and english in body:
                body = _replace_text(body, english, translated, formatted)
                used.add(english)
        pieces += [source[position:start], head, body, tail]
        position = end
    pieces.append(source[position:])
    missing = [english for english, translated in strings.items() if english not in used and translated != english]
    if missing:
        raise TranslationError(f"{where}: not in any title, label, legend, bar description or print of the "
                               f"English cell (only those may change): {missing}")
    translated = "".join(pieces)
    if _shape(translated, where) != _shape(source, where):
        raise TranslationError(f"{where}: the translation changes the code, not only the text of its strings "
                               "(an f-string must keep its placeholders, a quote must stay escaped)")
    return translated


def _shape(source: str, where: str) -> str:
    """The syntax tree with every string's text blanked (f-string placeholders kept, in any order)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise TranslationError(f"{where}: the translated cell is not valid Python ({error.msg}, line {error.lineno})") from None

    class Blank(ast.NodeTransformer):
        def visit_JoinedStr(self, node):
            holes = sorted(ast.dump(value) for value in node.values if isinstance(value, ast.FormattedValue))
            return ast.Constant(value=f"f-string {holes}")

        def visit_Constant(self, node):
            return ast.Constant(value="") if isinstance(node.value, str) else node

    return ast.dump(Blank().visit(tree))


# -- notebooks ---------------------------------------------------------------------------------

def needs_translation(cell) -> bool:
    return cell.cell_type == "markdown" or (cell.cell_type == "code" and bool(shown_strings(cell.source)))


def problems(language: str, chapter: str, nb: nbformat.NotebookNode | None = None) -> list[str]:
    """Everything that stops `chapter`'s edition in `language` from being released, one line each."""
    nb = nb or _english(chapter)
    label = _shown_path(table_path(language, chapter))
    try:
        entries = load(language, chapter)
    except TranslationError as error:
        return [str(error)]
    found = []
    cells = {cell.id: cell for cell in nb.cells}
    for cell in nb.cells:
        entry = entries.get(cell.id)
        if entry is None:
            if needs_translation(cell):
                found.append(f"{label}: cell {cell.id!r} ({cell.cell_type}) has no translation")
            continue
        if entry.english != fingerprint(cell.source):
            found.append(f"{label}: cell {cell.id!r} changed in English since its translation was reviewed "
                         f"(fingerprint {entry.english}, now {fingerprint(cell.source)}): update the translation, "
                         f"then run `python -m autograder translations review {language} {chapter} {cell.id}`")
        if cell.cell_type == "markdown" and entry.text is None:
            found.append(f"{label}: cell {cell.id!r} is markdown: give its `text`")
        elif cell.cell_type == "markdown" and language in SCRIPTS and not SCRIPTS[language].search(entry.text) \
                and re.search(r"[A-Za-z]{2,}(\W+[A-Za-z]{2,}){2}", cell.source):
            found.append(f"{label}: cell {cell.id!r} is still in English: translate its `text`")
        if cell.cell_type == "code":
            if entry.text is not None:
                found.append(f"{label}: cell {cell.id!r} is code: translate its `strings`, never its code")
            try:
                translate_code(cell.source, entry.strings, f"{label}, cell {cell.id!r}")
            except TranslationError as error:
                found.append(str(error))
    found += [f"{label}: cell {cell_id!r} is no longer in solutions/{chapter}: remove its translation"
              for cell_id in entries if cell_id not in cells]
    return found


def _english(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)


def _edition_links(text: str, language: str) -> str:
    """Paths of a chapter's student notebook (Colab badges, `validate` commands) name the edition's notebook."""
    return re.sub(r"(?<![\w.-])notebooks/(?=\d\d_[\w-]+/)", f"notebooks/{language}/", text)


def translated_notebook(language: str, chapter: str) -> nbformat.NotebookNode:
    """The instructor notebook of `chapter` in `language`; raises TranslationError listing every problem."""
    nb = _english(chapter)
    found = problems(language, chapter, nb)
    if found:
        raise TranslationError("\n".join(found))
    entries = load(language, chapter)
    for cell in nb.cells:
        entry = entries.get(cell.id)
        if entry is None:
            continue
        if cell.cell_type == "markdown":
            cell.source = _edition_links(entry.text, language)
        else:
            cell.source = translate_code(cell.source, entry.strings, cell.id)
    first_code = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    setup = nbformat.v4.new_code_cell(LANGUAGE_CELLS[language])
    setup.id = LANGUAGE_CELL_ID
    nb.cells.insert(first_code + 1, setup)
    nb.metadata["dlcourse"] = {"language": language, "translated_from": f"solutions/{chapter}/{chapter}.ipynb"}
    return nb


def review(language: str, chapter: str, cell_ids: list[str]) -> list[str]:
    """Record that the translations of `cell_ids` (all stale ones if empty) match today's English cells.

    Rewrites only the `english = "..."` line of each such cell in the table; returns the ids updated.
    """
    path = table_path(language, chapter)
    entries = load(language, chapter)
    current = {cell.id: fingerprint(cell.source) for cell in _english(chapter).cells}
    unknown = [cell_id for cell_id in cell_ids if cell_id not in entries or cell_id not in current]
    if unknown:
        raise TranslationError(f"{_shown_path(path)}: no translated cell {unknown} in solutions/{chapter}")
    chosen = cell_ids or [cell_id for cell_id, entry in entries.items()
                          if cell_id in current and entry.english != current[cell_id]]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    section = None
    for i, line in enumerate(lines):
        header = re.match(r'\[cells\.(?:"([^"]+)"|([\w-]+))\]\s*$', line)
        if header:
            section = header.group(1) or header.group(2)
        elif section in chosen and re.match(r"english\s*=", line):
            lines[i] = f"english = {json.dumps(current[section])}\n"
    path.write_text("".join(lines), encoding="utf-8")
    return chosen


def draft(language: str, chapter: str) -> Path:
    """Write a table for `chapter` with every cell that needs translating, English in place (to translate).

    Existing translations are kept; only cells without one are added, at the end.
    """
    path = table_path(language, chapter)
    entries = load(language, chapter)
    out = [] if path.is_file() else [f"# {chapter}, {language} edition: one entry per cell id (see autograder/translations.py).\n"]
    for cell in _english(chapter).cells:
        if cell.id in entries or not needs_translation(cell):
            continue
        out.append(f"\n[cells.{json.dumps(cell.id)}]\nenglish = {json.dumps(fingerprint(cell.source))}\n")
        if cell.cell_type == "markdown":
            if "'''" in cell.source:
                raise TranslationError(f"cell {cell.id!r} contains ''' : write its entry by hand")
            out.append(f"text = '''\n{cell.source}\n'''\n")
        else:
            out.append(f"[cells.{json.dumps(cell.id)}.strings]\n")
            out += [f"{json.dumps(text, ensure_ascii=False)} = {json.dumps(text, ensure_ascii=False)}\n"
                    for text in shown_strings(cell.source)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(out))
    return path
