"""User text (file names, column names, labels, reviews, reasons that quote them) shown as text,
never as markup."""

from __future__ import annotations

import re

# CommonMark lets a backslash escape every ASCII punctuation mark, so all of them are escaped: then no
# emphasis, link, list marker, heading, table, HTML, LaTeX ($) or Streamlit directive (:red[...]) forms.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = {ord(c): " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
# Streamlit's markdown links bare www., http:// and name@host even when escaped; an invisible word joiner
# (U+2060) before each '.' and ':' and after each '@' breaks those patterns and shows nothing.
_NO_AUTOLINKS = str.maketrans({".": "\u2060.", ":": "\u2060:", "@": "@\u2060"})


def plain(text) -> str:
    """`text` for st.markdown / st.caption / st.error ...: shown as typed, on one line, with no links."""
    return _PUNCTUATION.sub(r"\\\1", str(text).translate(_LINE_BREAKS).translate(_NO_AUTOLINKS))
