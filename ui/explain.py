"""Playground explanations: each model's words highlighted by how they pushed its prediction.

Highlighting uses Streamlit's own markdown colours (`:blue-background[...]`), never HTML; every piece
of user text is escaped first, so no text can close a highlight, start a link or inject markup.
"""

from __future__ import annotations

import re
import time

import streamlit as st

from core.errors import LabError
from core.explain import IG_METHOD, Explanation, explain
from ui.safe import plain

EXPLANATIONS_KEY = "play_explanations"
TOWARDS, AGAINST = "blue", "orange"  # a pair colour-blind readers tell apart
STRONG, SHOWN = 0.5, 0.1  # shares of the largest |weight|: bold from STRONG, coloured from SHOWN
# Measured: one explanation of a 20-word Rotten Tomatoes sentence (26 tokens) with the bundled MiniLM on
# 2 shared CPU cores: median 0.8-1.8 s wall, 1.2-1.5 CPU-seconds, depending on the load.
IG_SECONDS = "1-2"
_LINE_BREAKS = {ord(c): " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}  # one-for-one: spans still fit


def highlighted_markdown(text: str, explanation: Explanation) -> str:
    """The text on one line, each word on a background by its weight: blue towards, orange against."""
    flat = text.translate(_LINE_BREAKS)
    largest = max((abs(weight) for weight in explanation.weights), default=0.0)
    parts, position = [], 0
    for (start, end), weight in zip(explanation.spans, explanation.weights):
        parts.append(plain(re.sub(r"\s+", " ", flat[position:start])))
        word, share = plain(flat[start:end]), abs(weight) / largest if largest else 0.0
        if share >= SHOWN:
            word = f"**{word}**" if share >= STRONG else word
            word = f":{TOWARDS if weight > 0 else AGAINST}-background[{word}]"
        parts.append(word)
        position = end
    parts.append(plain(re.sub(r"\s+", " ", flat[position:])))
    return "".join(parts).strip()  # no leading spaces: four would start a code block


def legend(explanation: Explanation, regression: bool) -> str:
    """What the colours mean for this explanation."""
    towards = "pushes the value up" if regression else f"pushes towards '{explanation.explained}'"
    return (f":{TOWARDS}-background[{TOWARDS}]: {plain(towards)}; :{AGAINST}-background[{AGAINST}]: against; "
            f"**bold**: the strongest words; plain: under a tenth of the largest weight.")


def _compute(predictors: dict, names: list[str], text: str) -> dict:
    """{model name: (Explanation, seconds) or the error message} for the picked models."""
    results = {}
    for name in names:
        started = time.perf_counter()
        try:
            results[name] = (explain(predictors[name], text), time.perf_counter() - started)
        except LabError as exc:
            results[name] = str(exc)
    return results


def _show(name: str, result, text: str, regression: bool) -> None:
    """One model's explanation: what it explains, the highlighted text, the method and its notes."""
    if isinstance(result, str):
        st.error(f"Cannot explain {plain(name)}: {plain(result)}")
        return
    explanation, seconds = result
    st.markdown(f"**{plain(name)}**: {plain(explanation.output_name)} = {explanation.output:.2f} "
                f"(base value {explanation.base_value:.2f})")
    st.markdown(highlighted_markdown(text, explanation))
    st.caption(f"Method: {plain(explanation.method)}; took {seconds:.1f} s. {legend(explanation, regression)}")
    for note in explanation.notes:
        st.caption(plain(note))


def explain_section(predictors: dict, text: str) -> None:
    """Pick models, press the button, and see which words pushed each prediction which way."""
    st.subheader("Why? Word by word")
    names = st.multiselect("Models to explain", list(predictors), default=list(predictors), key="play_explain_models")
    st.caption(f"TF-IDF: its own weights, instant. Neural models: {plain(IG_METHOD)}, about {IG_SECONDS} s per "
               "model for a sentence on a 2-core CPU.")
    if st.button("Explain the predictions", key="play_explain", disabled=not names):
        with st.spinner(f"Explaining {len(names)} models..."):
            st.session_state[EXPLANATIONS_KEY] = (text, _compute(predictors, names, text))
    stored = st.session_state.get(EXPLANATIONS_KEY)
    if not stored or stored[0] != text:
        return
    for name, result in stored[1].items():
        if name in predictors:
            _show(name, result, text, predictors[name].task == "regression")
