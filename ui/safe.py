"""User text (file names, column names, labels, reasons that quote them) shown as text, never as markup."""

from __future__ import annotations

import re

# What starts markup in Streamlit's markdown on one line: emphasis, code, links and images, HTML,
# tables, strikethrough, LaTeX ($), headings, entities, and `:icon:` / `:color[...]` directives.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>|~$#&:])")


def plain(text) -> str:
    """`text` escaped for st.markdown / st.caption / st.error ...: shown as typed, on one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).splitlines()))
