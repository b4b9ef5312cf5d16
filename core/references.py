"""Published accuracies on the bundled tasks, each with its training size and source, so a sweep's
curves can be read against where the literature says they are heading.

Only numbers the cited paper reports for that test set. The papers use much larger encoders or
task-specific architectures and the full training sets; the lab's MiniLM on 1,000 examples is not
expected to reach them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One published result on one of the bundled tasks."""

    data: str  # a bundled data set id (core.sources.BUNDLED)
    method: str
    accuracy: float  # on the task's standard test set (IMDb: the 25,000 test reviews; MR: 10-fold CV)
    n_train: int  # labelled training texts the method used
    source: str  # authors, year, title
    url: str


REFERENCES = (
    Reference("imdb", "Paragraph vectors + bag of words (Maas et al.)", 0.8889, 25_000,
              "Maas et al., 2011. Learning Word Vectors for Sentiment Analysis. ACL.",
              "https://aclanthology.org/P11-1015/"),
    Reference("imdb", "NBSVM, word bigrams (TF-IDF-like baseline)", 0.9122, 25_000,
              "Wang and Manning, 2012. Baselines and Bigrams: Simple, Good Sentiment and Topic Classification. ACL.",
              "https://aclanthology.org/P12-2018/"),
    Reference("imdb", "ULMFiT (gradual unfreezing, discriminative rates)", 0.954, 25_000,
              "Howard and Ruder, 2018. Universal Language Model Fine-tuning for Text Classification. ACL.",
              "https://aclanthology.org/P18-1031/"),
    Reference("imdb", "BERT-base fine-tuned after in-task pre-training", 0.9563, 25_000,
              "Sun et al., 2019. How to Fine-Tune BERT for Text Classification? CCL.",
              "https://arxiv.org/abs/1905.05583"),
    Reference("rotten_tomatoes", "NBSVM, word bigrams (TF-IDF-like baseline)", 0.794, 9_596,
              "Wang and Manning, 2012. Baselines and Bigrams: Simple, Good Sentiment and Topic Classification. ACL.",
              "https://aclanthology.org/P12-2018/"),
    Reference("rotten_tomatoes", "CNN on word2vec, fine-tuned (Kim)", 0.815, 9_596,
              "Kim, 2014. Convolutional Neural Networks for Sentence Classification. EMNLP.",
              "https://aclanthology.org/D14-1181/"),
)
# MR (Rotten Tomatoes sentence polarity) results are 10-fold cross-validation over 10,662 sentences:
# each fold trains on about 9,596.


def references_for(data: str) -> list[Reference]:
    """The published results on a bundled data set ([] for anything else)."""
    return [reference for reference in REFERENCES if reference.data == data]
