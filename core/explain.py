"""Which words pushed a prediction which way: per-token weights for every kind of model.

Every explanation decomposes one number, the model output it explains:
- a class: the log-odds of the class against the other classes, z_k - mean(z_c for c != k) of the
  class scores z (logits, or the logistic regression's decision values). With two classes this is
  log(p_k / p_other), the logistic regression's decision function (sign flipped for the first
  class); with more it is log p_k minus the mean log-probability of the other classes;
- a number (regression): the predicted value, in the target's units.

TF-IDF is linear, so its decomposition is exact: each feature contributes coefficient x TF-IDF
value, a word gets its own unigram's contribution plus half of each bigram it is part of (a term
seen n times is shared equally by its n occurrences), and weights + intercept equal the output.
Neural models get integrated gradients (Captum) on the token embeddings, from a baseline of
padding tokens at the same positions ([CLS] / [SEP] kept); word pieces are summed into words.
Multi-task models are explained for their first target.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import torch

from core.errors import ConfigError, DataError
from core.models import pool
from core.predict import EncoderPredictor, Predictor, TfidfPredictor
from core.tasks import Target

TFIDF_METHOD = "TF-IDF weights x feature values"
IG_STEPS = 32
IG_METHOD = f"Integrated gradients (Captum), {IG_STEPS} steps, on the token embeddings"
IG_TOKENS_PER_BATCH = 4096  # interpolation steps run in batches of about this many tokens


@dataclass(frozen=True)
class Explanation:
    """Per-token weights that, added to `base_value`, give the model `output` they explain."""

    tokens: tuple[str, ...]  # words as they appear in the text, in order
    spans: tuple[tuple[int, int], ...]  # (start, end) character offsets of each token in the text
    weights: tuple[float, ...]  # > 0 pushes towards `explained` (a class), or the value up (regression)
    explained: str  # the class explained, or the target's name for a number
    method: str
    base_value: float  # the output without the words (TF-IDF: the intercept; neural: the padding baseline)
    output: float  # the model output explained (see `output_name`)
    output_name: str
    notes: tuple[str, ...] = ()  # what else to know: first of several targets, truncation, IG's delta
    convergence_delta: float | None = None  # integrated gradients: sum(weights) - (output - base_value)


def explain(predictor: Predictor, text: str, target_class: str | None = None) -> Explanation:
    """Explain `predictor`'s output for `text` (the predicted class unless `target_class` names one)."""
    if not str(text).strip():
        raise DataError("Give a non-empty text to explain.")
    target = predictor.targets[0]
    if target_class is not None and target.kind == "regression":
        raise ConfigError(f"This model predicts a number ({target.name}), so there is no class to choose.")
    if target_class is not None and target_class not in target.label_names:
        raise ConfigError(f"Class '{target_class}' is not one of {', '.join(target.label_names)}.")
    if target.kind == "classification" and target_class is None:
        target_class = predictor.predict([text])[0].label
    notes = ()
    if len(predictor.targets) > 1:
        notes = (f"This model predicts {len(predictor.targets)} targets; this explains the first, '{target.name}'.",)
    if isinstance(predictor, TfidfPredictor):
        found = _explain_tfidf(predictor, text, target, target_class)
    elif isinstance(predictor, EncoderPredictor):
        found = _explain_encoder(predictor, text, target, target_class)
    else:
        raise ConfigError(f"Cannot explain a {type(predictor).__name__}.")
    return replace(found, notes=notes + found.notes)


def output_name(target: Target, target_class: str | None) -> str:
    """What the explained number is, in words."""
    if target.kind == "regression":
        return f"predicted {target.name}"
    others = [name for name in target.label_names if name != target_class]
    against = f"'{others[0]}'" if len(others) == 1 else "the mean of the other classes"
    return f"log-odds of '{target_class}' against {against}"


def _against_others(rows, k: int):
    """Row k minus the mean of the other rows: (classes, ...) -> (...), for arrays and tensors alike."""
    others = rows[[i for i in range(len(rows)) if i != k]]  # (classes - 1, ...)
    return rows[k] - others.mean(0)


# ---------------------------------------------------------------- TF-IDF: exact decomposition

def _tfidf_line(model, target: Target, target_class: str | None) -> tuple[np.ndarray, float]:
    """(coefficients (features,), intercept) of the explained output as a linear function of TF-IDF values."""
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))  # (1 or classes, features)
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    if target.kind == "regression":
        return coef[0], float(intercept[0])
    index = target.label_names.index(target_class)
    classes = list(np.asarray(model.classes_))
    if index not in classes:
        raise ConfigError(f"Class '{target_class}' never appeared in training, so the TF-IDF model has no weights "
                          "for it.")
    if len(classes) == 2:  # one decision function d: scores (0, d) for (classes[0], classes[1])
        coef, intercept = np.vstack([np.zeros_like(coef[0]), coef[0]]), np.array([0.0, intercept[0]])
    k = classes.index(index)
    return _against_others(coef, k), float(_against_others(intercept, k))


def _words(vectorizer, text: str) -> list[tuple[str, int, int]]:
    """(term, start, end) of every word the vectorizer reads, with offsets into `text`."""
    preprocessed = vectorizer.build_preprocessor()(text)
    source = preprocessed if len(preprocessed) == len(text) else text  # lowercasing rarely changes lengths
    return [(match.group().lower() if vectorizer.lowercase else match.group(), match.start(), match.end())
            for match in re.finditer(vectorizer.token_pattern, source)]


def _explain_tfidf(predictor: TfidfPredictor, text: str, target: Target, target_class) -> Explanation:
    """Coefficient x TF-IDF value per feature, shared out onto the words each n-gram covers."""
    vectorizer = predictor.vectorizer
    coef, intercept = _tfidf_line(predictor.models[0], target, target_class)
    row = vectorizer.transform([text]).tocsr()  # (1, features), sparse
    contribution = {int(j): coef[j] * value for j, value in zip(row.indices, row.data)}
    words = _words(vectorizer, text)
    weights = np.zeros(len(words))
    low, high = vectorizer.ngram_range
    for n in range(low, high + 1):
        grams = [" ".join(w[0] for w in words[i:i + n]) for i in range(len(words) - n + 1)]
        counts = Counter(grams)
        for i, gram in enumerate(grams):
            feature = vectorizer.vocabulary_.get(gram)
            if feature in contribution:  # share: 1/count per occurrence, 1/n per word of the n-gram
                weights[i:i + n] += contribution[feature] / (counts[gram] * n)
    notes = ("Each bigram's weight is split equally between its two words; words never seen in training weigh 0 "
             "and one-letter words are not read.",) if high > 1 else ()
    return Explanation(tuple(text[s:e] for _, s, e in words), tuple((s, e) for _, s, e in words),
                       tuple(float(w) for w in weights), target_class or target.name, TFIDF_METHOD, intercept,
                       intercept + float(sum(contribution.values())), output_name(target, target_class), notes)


# ---------------------------------------------------------------- neural: integrated gradients

def _output_function(predictor: EncoderPredictor, target: Target, target_class, attention_mask: torch.Tensor):
    """f(token embeddings (batch, seq, hidden)) -> explained output (batch,), through encoder, pooling and head."""
    model = predictor.model
    cut = slice(0, target.width)  # the first target's slice of the head

    def forward(embeddings: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.expand(embeddings.shape[0], -1)  # (1, seq) -> (batch, seq)
        out = model.encoder(inputs_embeds=embeddings, attention_mask=mask)
        pooled = pool(out.last_hidden_state, mask, model.pooling, getattr(out, "pooler_output", None))
        scores = model.head(pooled)[:, cut].float()  # (batch, hidden) -> (batch, width); dropout is off in eval
        if target.kind == "regression":
            return scores[:, 0] * target.std + target.mean
        return _against_others(scores.T, target.label_names.index(target_class))

    return forward


def _encode(predictor: EncoderPredictor, text: str):
    """Token ids (1, seq), padding-baseline ids (1, seq), word per token, character offsets, truncated?"""
    tokenizer = predictor.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("Explanations need a fast tokenizer (one that reports character offsets).")
    encoding = tokenizer(text, truncation=True, max_length=predictor.max_length, return_offsets_mapping=True,
                         return_tensors="pt")
    ids, word_ids = encoding["input_ids"], encoding.word_ids(0)
    special = torch.tensor([word is None for word in word_ids]).unsqueeze(0)  # (1, seq): [CLS], [SEP], ...
    baseline = torch.where(special, ids, tokenizer.pad_token_id)  # padding in place of every word piece
    truncated = bool(encoding.encodings[0].overflowing)
    return ids, baseline, word_ids, encoding["offset_mapping"][0].tolist(), truncated


def _merge_words(word_ids, offsets, token_weights: np.ndarray, text: str):
    """Sum word pieces into words: -> (words, spans, weights), special tokens left out."""
    spans, weights = {}, {}
    for word, (start, end), weight in zip(word_ids, offsets, token_weights):
        if word is None:
            continue
        low, high = spans.get(word, (start, end))
        spans[word] = (min(low, start), max(high, end))
        weights[word] = weights.get(word, 0.0) + float(weight)
    order = sorted(spans)
    return (tuple(text[slice(*spans[w])] for w in order), tuple(spans[w] for w in order),
            tuple(weights[w] for w in order))


def _explain_encoder(predictor: EncoderPredictor, text: str, target: Target, target_class) -> Explanation:
    """Integrated gradients from padding-token embeddings to the text's, summed per word."""
    from captum.attr import IntegratedGradients

    ids, baseline_ids, word_ids, offsets, truncated = _encode(predictor, text)
    embed = predictor.model.encoder.get_input_embeddings()
    device = predictor.device
    forward = _output_function(predictor, target, target_class, torch.ones_like(ids).to(device))
    with torch.no_grad():
        inputs, baseline = embed(ids.to(device)), embed(baseline_ids.to(device))  # (1, seq, hidden) each
        output, base_value = float(forward(inputs)[0]), float(forward(baseline)[0])
    internal_batch = max(1, min(IG_STEPS, IG_TOKENS_PER_BATCH // ids.shape[1]))
    attributions, delta = IntegratedGradients(forward).attribute(
        inputs, baselines=baseline, n_steps=IG_STEPS, internal_batch_size=internal_batch,
        return_convergence_delta=True)  # (1, seq, hidden), (1,)
    token_weights = attributions.sum(dim=-1)[0].detach().float().cpu().numpy()  # (seq,)
    tokens, spans, weights = _merge_words(word_ids, offsets, token_weights, text)
    notes = [f"Convergence delta {float(delta[0]):+.3g}: how far the weights' sum is from output minus base value."]
    if truncated:
        notes.append(f"The model reads only the first {predictor.max_length} tokens; the rest is not explained.")
    return Explanation(tokens, spans, weights, target_class or target.name, IG_METHOD, base_value, output,
                       output_name(target, target_class), tuple(notes), float(delta[0]))
