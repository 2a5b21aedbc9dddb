"""Text a student wrote, made inert for whoever reads it: an instructor's browser or terminal.

Three tools, each for one kind of destination:
- `clean_html(html)`: HTML the grader rendered from a student's markdown, through the maintained
  sanitiser nh3 with a tight allow-list (only the tags markdown makes, links only to http, https
  and mailto, no images, no styles, no event handlers, no comments); `link_kept(url)` says
  whether a link survives it.
- `visible_controls(text)`: the invisible characters that can disguise text (bidirectional
  overrides as in "Trojan Source", C0/C1 control characters) replaced by a visible `[U+XXXX]`.
- `inert_message(text)`: a one-line-per-line message quoting a student (an exception message in a
  verdict, a problem printed to the terminal): terminal escape sequences removed, controls shown.
"""
from __future__ import annotations

import html
import re

import nh3

# Only what nbconvert's markdown renderer makes from markdown syntax; no <img> (a remote image is
# a request the reader's browser makes), no <input> (task-list boxes), nothing that embeds or styles.
MARKDOWN_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "a", "span", "div",
    "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}
MARKDOWN_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"colspan", "rowspan"},
                       "td": {"colspan", "rowspan"}}
LINK_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"

_CLEANER = nh3.Cleaner(
    tags=MARKDOWN_TAGS,
    clean_content_tags={"script", "style"},  # dropped with their content, never shown as text
    attributes=MARKDOWN_ATTRIBUTES,          # no style, no class, no id, no on* handler
    url_schemes=LINK_SCHEMES,                # javascript:, data:, vbscript:, file: ... lose their href
    url_relative="deny",                     # no relative links into the formgrader's own pages
    link_rel=LINK_REL,
    strip_comments=True,
)

# Bidirectional embeddings, overrides and isolates (they reorder what a reader sees), the line and
# paragraph separators, and every C0/C1 control except tab, newline and carriage return.
_DISGUISING = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# Terminal escape sequences: CSI (colours, cursor moves) and OSC (window title, clipboard), then any
# other two-character escape.
_TERMINAL_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")


def clean_html(html: str) -> str:
    """`html` through nh3 with the allow-list above: what is left cannot run, fetch or restyle."""
    return _CLEANER.clean(html)


def link_kept(url: str) -> bool:
    """Whether `clean_html` keeps a link to `url`: nh3 itself is asked, with a one-link document."""
    return "href=" in _CLEANER.clean(f'<a href="{html.escape(url)}">x</a>')


def visible_controls(text: str) -> str:
    """`text` with every disguising invisible character shown as `[U+XXXX]`, so a reader sees it."""
    return _DISGUISING.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def inert_message(text: str, limit: int = 2000) -> str:
    """A message quoting a student, safe for a terminal and for nbconvert's ANSI-to-HTML filter.

    Terminal escapes are removed (a student must not recolour, hide or retitle the grader's
    output), other controls, a lone carriage return included (it would overwrite the line), are
    made visible, and the message is cut at `limit` characters.
    """
    text = _TERMINAL_ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "[U+000D]")
    text = visible_controls(text)
    return text if len(text) <= limit else text[:limit] + f" ... (cut at {limit} characters)"
