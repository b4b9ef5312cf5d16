"""Guide: which strategy when, shown next to what the user measured on their own data."""

import pandas as pd
import streamlit as st

from core.progress import format_seconds
from core.references import REFERENCES
from core.strategies import STRATEGIES
from core.sweep import summarize
from core.sweep_words import sweep_advice
from ui.runs import runs_by_name
from ui.state import DATA_PAGE, SWEEP_PAGE, current_dataset, current_sweep
from ui.safe import plain

# (situation, strategy id, why, what "on your data" shows): rules of thumb, checked against the measured column.
ADVICE = [
    ("Small data: under about 1,000 labelled texts", "frozen",
     "Too few labels to move millions of weights safely; a linear layer on good pretrained features "
     "learns from a few hundred examples and cannot overfit much."),
    ("Medium data: 1,000 to 10,000 texts", "full",
     "Enough labels to adapt the whole encoder to the task; usually the best accuracy per minute spent."),
    ("Large data: over 10,000 texts", "full",
     "Every weight adapts; starting from pretrained weights still converges much faster than from random ones."),
    ("Little compute: a CPU, minutes rather than hours", "frozen",
     "The encoder reads each text once; training the head then takes seconds."),
    ("A very specific domain: legal, medical, heavy jargon", "full",
     "What the words mean in the domain differs from general text; frozen features cannot adjust, "
     "fine-tuned ones can."),
    ("A research baseline: how much is pretraining worth?", "scratch",
     "Same network, random start: the gap to full fine-tuning is the value of pretraining. With little "
     "data expect near-chance accuracy."),
    ("Any task, first: the classical check", "tfidf",
     "Seconds to train. If a neural model does not beat it, the task may hinge on keywords (long reviews "
     "often do) or the neural setup needs attention."),
    ("In production, fast predictions", "frozen",
     "The encoder runs once per text and the head is one matrix product; `python -m core export` writes it as "
     "an ONNX model that onnxruntime serves without this project (`python -m core serve`)."),
    ("In production, the best accuracy", "full",
     "Usually the most accurate once there are a few hundred labels; it predicts as fast as frozen (the same "
     "encoder), only its training costs more."),
]
SOURCE_TITLES = {"imdb": "IMDb", "rotten_tomatoes": "Rotten Tomatoes (MR)"}
LATENCY_ROWS = {"In production, fast predictions", "In production, the best accuracy"}  # measured in ms per text

# (problem, what to change in the lab): every remedy is a setting of the Train page or the CLI.
TROUBLESHOOTING = [
    ("Out of memory", "The lab retries a run with half the batch and twice the gradient accumulation (the same "
     "effective batch) by itself. Beyond that: lower the max length (the Data page shows how many texts it cuts), "
     "lower the batch size and raise gradient accumulation, or turn on gradient checkpointing (slower steps, "
     "far less activation memory)."),
    ("Poor convergence: the loss stays flat or jumps", "Sweep the learning rate (Sweep page, vary: learning rate); "
     "keep warmup on; fine-tune at 1e-5 to 1e-4 and train a lone head at around 1e-2. With one class much rarer "
     "than the others, turn on the class-weighted loss. Label noise caps what any model can reach: the sweep "
     "can vary it on synthetic data to show how much."),
    ("Too slow", "Try frozen first (the encoder runs once, features are cached), lower the max length, keep "
     "precision on auto (bf16 where the chip has it), fewer epochs with early stopping, or TF-IDF as the "
     "baseline that takes seconds."),
    ("Overfitting: training score far above validation", "Early stopping (patience) keeps the best epoch; raise "
     "dropout, train fewer epochs, or train fewer weights (frozen, top_k, LoRA); more labelled data helps most "
     "(the size sweep shows how much)."),
]


def size_row(n_train: int) -> int:
    """Index of the ADVICE row that matches a training set of `n_train` texts."""
    return 0 if n_train < 1000 else 1 if n_train <= 10_000 else 2


def best_runs(runs: dict) -> dict:
    """Strategy id -> the saved run of that strategy with the best test accuracy."""
    best = {}
    for run in runs.values():
        if run.result.test_accuracy is None:  # numeric targets: the advice compares accuracy
            continue
        strategy = run.result.strategy
        if strategy not in best or run.result.test_accuracy > best[strategy].result.test_accuracy:
            best[strategy] = run
    return best


def title_of(strategy: str) -> str:
    """A strategy's title, in bold (its id when the registry does not know it)."""
    return f"**{STRATEGIES[strategy].title if strategy in STRATEGIES else strategy}**"


def show_sweep_advice() -> None:
    """What this session's finished data-size sweep measured, or where to run one."""
    sweep = current_sweep()
    finished = sweep is not None and sweep.status == "finished" and sweep.vary.is_size
    summary = summarize(sweep.records) if finished else []
    if not summary:
        st.caption("The size rows below are rules of thumb. A data-size sweep measures them on your data.")
        st.page_link(SWEEP_PAGE, label="Run a data-size sweep", icon=":material/stacked_line_chart:")
        return
    st.info(sweep_advice(summary, title_of), icon=":material/insights:")
    st.caption(f"Measured by your data-size sweep on {plain(sweep.data_info.get('description', 'your data'))}: "
               f"mean ± std of test accuracy over {sweep.seeds} seeds per size, all on the same test split.")
    st.page_link(SWEEP_PAGE, label="See the sweep", icon=":material/stacked_line_chart:")


def score(run) -> str:
    """'accuracy 0.712 in 18 s'."""
    return f"accuracy {run.result.test_accuracy:.3f} in {format_seconds(run.result.train_seconds)}"


def latency(run) -> str:
    """'1.8 ms per text': the run's time to label its test split, per text (batched, this machine)."""
    if not run.result.n_test:
        return "not measured yet"
    return f"{1000 * run.result.predict_seconds / max(run.result.n_test, 1):.1f} ms per text (batched, this machine)"


def measured(situation: str, strategy: str) -> str:
    """The 'On your data' cell of one advice row."""
    if strategy not in mine:
        return "not measured yet"
    return latency(mine[strategy]) if situation in LATENCY_ROWS else score(mine[strategy])


def show_references() -> None:
    """Published results on the bundled tasks, with their training sizes and sources."""
    st.subheader("What the papers report on these tasks")
    st.caption("On the full training sets, with larger models or architectures built for the task: where the "
               "size sweep's curves are heading, not what a MiniLM on 1,000 texts reaches.")
    rows = [{"Data": SOURCE_TITLES.get(r.data, r.data), "Method": r.method, "Accuracy": r.accuracy,
             "Training texts": r.n_train, "Source": r.source, "Link": r.url} for r in REFERENCES]
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        "Accuracy": st.column_config.NumberColumn(format="%.3f"),
        "Training texts": st.column_config.NumberColumn(format="localized"),
        "Link": st.column_config.LinkColumn(display_text="paper")})


st.title("Guide: which strategy when")
dataset = current_dataset()
mine = best_runs(runs_by_name([]))
if dataset is None:
    st.info("These are rules of thumb. Choose data and train a few strategies to see your own numbers next to them.")
    st.page_link(DATA_PAGE, label="Go to the Data page", icon=":material/dataset:")
else:
    row = ADVICE[size_row(dataset.info["n_train"])]
    st.success(f"Your training set has {dataset.info['n_train']:,} texts, so the row “{row[0]}” applies: "
               f"start with **{STRATEGIES[row[1]].title}**.")
show_sweep_advice()

table = pd.DataFrame([{"Situation": situation, "Use": STRATEGIES[strategy].title, "Why": why,
                       "On your data": measured(situation, strategy)} for situation, strategy, why in ADVICE])
st.table(table, hide_index=True, border="horizontal")

st.subheader("Troubleshooting")
st.table(pd.DataFrame(TROUBLESHOOTING, columns=["Problem", "What to change"]), hide_index=True,
         border="horizontal")

if mine:
    st.subheader("What you measured")
    st.markdown("\n".join(f"- On {plain(run.data_info.get('description', 'your data'))}, "
                          f"{title_of(s)} reached {score(run)}."
                          for s, run in mine.items()))
    st.caption("One run per strategy is one sample: differences of a point or two can flip with another seed.")

show_references()
