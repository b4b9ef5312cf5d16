"""Command line: `python -m core compare ...` and `python -m core predict ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import distributed
from core import events as ev
from core.config import RunConfig
from core.errors import LabError
from core.service import add_serve_arguments, cmd_serve
from core.strategies import DEFAULT_STRATEGIES, get_strategy

DEFAULTS = RunConfig()
# CLI flag -> RunConfig field, for every hyperparameter.
HYPERPARAMETERS = {
    "--model": ("model", str, "encoder: Hugging Face id or local folder (default: the bundled MiniLM)"),
    "--max-length": ("max_length", int, "tokens kept per text"),
    "--batch-size": ("batch_size", int, "texts per batch"),
    "--epochs": ("epochs", int, "passes over the training split"),
    "--lr": ("lr_finetune", float, "learning rate when fine-tuning pretrained weights"),
    "--lr-scratch": ("lr_scratch", float, "learning rate for the randomly initialised model"),
    "--lr-head": ("lr_head", float, "learning rate of the head on frozen features"),
    "--dropout": ("dropout", float, "dropout before the linear head"),
    "--warmup-ratio": ("warmup_ratio", float, "share of steps with linear LR warmup"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay (not on biases/LayerNorm)"),
    "--grad-accum-steps": ("grad_accum_steps", int, "batches per optimizer step"),
    "--max-grad-norm": ("max_grad_norm", float, "gradient clipping norm"),
    "--patience": ("patience", int, "early stopping: epochs without validation gain (0 = off)"),
    "--seed": ("seed", int, "random seed for splits, init and shuffling"),
    "--pooling": ("pooling", str, "auto, mean, cls or pooler"),
    "--device": ("device", str, "auto, cpu or cuda"),
    "--precision": ("precision", str, "auto (bf16 where the chip does it natively), fp32, bf16, or fp16 (GPU)"),
    "--top-k": ("top_k", int, "top_k strategy: encoder layers that train"),
    "--lr-decay": ("lr_decay", float, "discriminative strategy: LR divided by this per layer"),
    "--lr-head-finetune": ("lr_head_finetune", float, "learning rate of the new head while the encoder fine-tunes"),
    "--lr-lora": ("lr_lora", float, "lora strategy: learning rate of the adapters and head"),
    "--lora-r": ("lora_r", int, "lora strategy: rank of the adapters"),
    "--lora-alpha": ("lora_alpha", int, "lora strategy: scaling numerator (scale = alpha / r)"),
    "--lora-targets": ("lora_targets", str, "lora strategy: auto (the family's attention query/value) or "
                                            "comma-separated module names that get adapters"),
    "--class-weighted": ("class_weighted", bool, "weigh each class's loss by 1 / its share of the training texts "
                         "(for imbalanced labels)"),
    "--gradient-checkpointing": ("gradient_checkpointing", bool, "recompute activations in the backward pass: "
                                 "less memory for long texts (MiniLM, 16 x 256 tokens: 3.2 -> 2.1 GB peak), "
                                 "about 1.5x slower steps"),
    "--mlm-steps": ("mlm_steps", int, "domain_adapt strategy: masked-LM steps on the training texts first"),
}


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="rotten_tomatoes",
                        help="imdb, rotten_tomatoes, synthetic, a CSV/TSV/JSONL/Parquet path, or hub:NAME")
    parser.add_argument("--n-train", type=int, default=1000, help="training examples")
    parser.add_argument("--n-val", type=int, default=None, help="validation examples (default: 20%% of --n-train)")
    parser.add_argument("--n-test", type=int, default=1000, help="held-out test examples")
    parser.add_argument("--text-column", default=None, help="text column of a file (detected if omitted)")
    parser.add_argument("--label-column", default=None,
                        help="label column of a file (detected if omitted); several, comma-separated, "
                             "train one head each on a shared encoder (multi-task)")
    parser.add_argument("--task", default="auto",
                        help="auto, classification or regression; one per label column for several "
                             "(auto: numeric columns with fractions or >20 values are regression)")
    parser.add_argument("--synthetic-size", type=int, default=3000, help="rows generated for --data synthetic")
    parser.add_argument("--difficulty", default="medium", help="synthetic data: easy, medium or hard")
    parser.add_argument("--label-noise", type=float, default=0.0, help="synthetic data: share of flipped labels")


def _add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where runs train: here, or one Ray task each on a Ray cluster (core/ray_executor.py)")
    parser.add_argument("--ray-address", default=None,
                        help="with --executor ray: local (start Ray in this process, the default), auto, HOST:6379 "
                             "or ray://HOST:10001")


def _executor(args):
    """None (train here) or a core.ray_executor.RayExecutor for --executor ray (only then is Ray imported)."""
    if args.executor == "local":
        if args.ray_address:
            raise LabError("--ray-address needs --executor ray.")
        return None
    if getattr(args, "devices", 1) > 1:
        raise LabError("--devices and --executor ray do not mix: each Ray task trains one model on its own.")
    from core.ray_executor import RayExecutor

    return RayExecutor(args.ray_address or "local")


def _add_hyperparameters(parser: argparse.ArgumentParser) -> None:
    for flag, (field, kind, help_text) in HYPERPARAMETERS.items():
        typed = {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind}  # --x / --no-x
        parser.add_argument(flag, dest=field, **typed, default=getattr(DEFAULTS, field),
                            help=f"{help_text} (default: {getattr(DEFAULTS, field)})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Transfer Learning Lab command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    compare = sub.add_parser("compare", help="train several strategies on one split and compare them")
    _add_data_arguments(compare)
    compare.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES), help="comma-separated strategy ids")
    compare.add_argument("--out", default="results", help="folder for results.json and comparison.png")
    compare.add_argument("--runs-dir", default=None, help="where runs are saved (default: OUT/runs)")
    compare.add_argument("--unlabelled", default=None,
                         help="a file of unlabelled texts of the same domain: domain_adapt pre-trains on them too")
    compare.add_argument("--devices", type=int, default=1,
                         help="processes that train each model together (one GPU each, or CPU processes without a "
                              "GPU or with --device cpu), each on an equal share of every batch: --batch-size stays "
                              "the global batch; above 1 the command relaunches under accelerate launch")
    _add_executor_arguments(compare)
    _add_hyperparameters(compare)
    sweep = sub.add_parser("sweep", help="accuracy vs one setting (training size, lr, ...): strategies x values x seeds")
    _add_data_arguments(sweep)
    sweep.add_argument("--vary", default=None,
                       help="SETTING=V1,V2,...: n_train, lr (each strategy's own), epochs, max_length, top_k, lora_r, "
                            "dropout, label_noise (share of training labels flipped) or another numeric setting; "
                            "with it, --n-train is the training size of every run")
    sweep.add_argument("--sizes", default="100,300,1000", help="training sizes (the same as --vary n_train=...)")
    sweep.add_argument("--seeds", type=int, default=3, help="repetitions per value (different samples)")
    sweep.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES), help="comma-separated strategy ids")
    sweep.add_argument("--out", default="sweep", help="folder for sweep.json and sweep.png")
    _add_executor_arguments(sweep)
    _add_hyperparameters(sweep)
    predict = sub.add_parser("predict", help="predict with a saved run")
    predict.add_argument("--model", required=True, help="a run folder written by `compare`")
    predict.add_argument("texts", nargs="*", help="texts to classify")
    predict.add_argument("--file", default=None, help="a CSV/TSV/JSONL/Parquet file of texts")
    predict.add_argument("--text-column", default=None)
    predict.add_argument("--output", default="predictions.csv", help="CSV written for --file")
    export = sub.add_parser("export", help="export a saved neural run to ONNX (tokenizer and manifest alongside)")
    export.add_argument("--model", required=True, help="a run folder written by `compare`")
    export.add_argument("--format", default="onnx", help="export format (onnx, the only one for now)")
    export.add_argument("--out", default=None, help="the .onnx file to write (default: RUN/model/model.onnx)")
    add_serve_arguments(sub.add_parser("serve", help="serve saved runs over HTTP: GET /models, POST /predict"))
    explain = sub.add_parser("explain", help="which words pushed a saved run's prediction which way")
    explain.add_argument("--model", required=True, help="a run folder written by `compare`")
    explain.add_argument("text", help="the text to explain")
    explain.add_argument("--target-class", default=None, help="the class to explain (default: the predicted one)")
    return parser


class ProgressPrinter:
    """Turns training events into tqdm progress bars on stderr."""

    def __init__(self):
        self.bar = None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if isinstance(event, ev.RunStarted):
            self.bar = tqdm(total=max(event.total_steps, 1), desc=event.strategy, unit="step", file=sys.stderr,
                            mininterval=1.0)
        elif isinstance(event, ev.StepLogged) and self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            self.bar.set_postfix(loss=f"{event.loss:.3f}", epoch=event.epoch)
        elif isinstance(event, ev.EpochEvaluated) and self.bar is not None:
            self.bar.write(f"  {event.strategy} epoch {event.epoch}: train loss {event.train_loss:.3f}, "
                           f"val {event.score_name} {event.val_score:.3f}", file=sys.stderr)
        elif isinstance(event, (ev.RunFinished, ev.RunFailed, ev.RunCancelled)) and self.bar is not None:
            self.bar.close()
            self.bar = None


def format_table(results) -> str:
    """Plain-text results table: accuracy and macro-F1, or R² and MAE for a numeric target."""
    regression = any(r.ok and r.task == "regression" for r in results)
    first, second = ("R2", "MAE") if regression else ("test acc", "macro-F1")
    header = f"{'strategy':<16}{'status':<10}{first:>9}{second:>10}{'train s':>10}{'trainable':>14}{'% train':>9}"
    lines = [header, "-" * len(header)]
    for r in results:
        if r.ok:
            a, b = (r.test_r2, r.test_mae) if regression else (r.test_accuracy, r.macro_f1)
            lines.append(f"{r.strategy:<16}{r.status:<10}{a:>9.3f}{b:>10.3f}"
                         f"{r.train_seconds:>10.1f}{r.trainable_params:>14,}{r.percent_trainable:>8.2f}%")
        else:
            lines.append(f"{r.strategy:<16}{r.status:<10}  {r.reason}")
    for r in results:
        if r.ok and len(r.targets) > 1:
            lines.append(f"{r.strategy}: " + "; ".join(_target_words(m) for m in r.targets))
    return "\n".join(lines)


def _target_words(metrics: dict) -> str:
    if metrics["kind"] == "regression":
        return f"{metrics['name']} R2 {metrics['r2']:.3f} MAE {metrics['mae']:.3g}"
    return f"{metrics['name']} accuracy {metrics['accuracy']:.3f}"


def cmd_compare(args) -> int:
    """Load data, split, train every strategy, write results.json and comparison.png."""
    from core.compare import run_queue, write_results
    from core.figure import save_comparison_png
    from core.splits import describe_splits, make_splits

    executor = _executor(args)
    distributed.start(args.device)
    writes = distributed.is_main()  # launched as several processes, only the main one writes and prints
    strategies, base, data = _strategies_and_data(args)
    configs = [base.replace(strategy=s) for s in strategies]
    splits = make_splits(data, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, seed=args.seed)
    if args.unlabelled:
        splits = _add_unlabelled(splits, args.unlabelled)
    data_info = describe_splits(args.data, args.data, data, splits)
    if writes:
        _announce_data(data, splits, data_info, base)
    out = Path(args.out)
    runs_root = Path(args.runs_dir) if args.runs_dir else out / "runs"
    queue = executor.run_queue if executor else run_queue
    results = queue(configs, splits, runs_root if writes else None, ProgressPrinter() if writes else None,
                    data_info=data_info)
    if not writes:
        return 0 if any(r.ok for r in results) else 1
    common = {**data_info, "strategies": strategies, **{k: v for k, v in configs[0].to_dict().items() if k != "strategy"}}
    path = write_results(out, common, results)
    save_comparison_png(results, out / "comparison.png")
    print(format_table(results))
    print(f"\nwrote {path} and {out / 'comparison.png'}")
    return 0 if any(r.ok for r in results) else 1


def _announce_data(data, splits, data_info: dict, base: RunConfig) -> None:
    """What loading decided (columns, repeats, merged labels, the label map), the splits, and the share of
    training texts the max length cuts: said on stderr before anything trains."""
    from core.charts import truncated_percent
    from core.estimate import token_lengths

    for line in data.load_report():
        print(f"data: {line}", file=sys.stderr)
    print(f"data: {data_info['description']}", file=sys.stderr)
    try:
        cut = truncated_percent(token_lengths(base.model, splits.train.texts), base.max_length)
        print(f"data: {cut:.1f}% of training texts are longer than {base.max_length} tokens and will be cut",
              file=sys.stderr)
    except LabError:  # the encoder cannot load: its run will fail and say why
        pass


def _add_unlabelled(splits, path: str):
    """The splits with the unlabelled texts of `path` for continued pre-training (domain_adapt)."""
    from core.sources import load_unlabelled
    from core.splits import with_unlabelled

    splits, left_out = with_unlabelled(splits, load_unlabelled(path))
    print(f"data: {len(splits.unlabelled):,} unlabelled texts for continued pre-training"
          + (f" ({left_out:,} left out: empty, repeated, or validation / test texts)" if left_out else ""),
          file=sys.stderr)
    return splits


def _strategies_and_data(args):
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for strategy in strategies:
        get_strategy(strategy)
    overrides = {field: getattr(args, field) for field, *_ in HYPERPARAMETERS.values()}
    base = RunConfig(**overrides)  # each run replaces the strategy
    from core.sources import load_source

    data = load_source(args.data, n_synthetic=args.synthetic_size, difficulty=args.difficulty,
                       label_noise=args.label_noise, seed=args.seed,
                       text_column=args.text_column, label_column=args.label_column, task=args.task)
    return strategies, base, data


def cmd_sweep(args) -> int:
    """Strategies x the values of one setting x seeds on one held-out test; writes sweep.json and sweep.png."""
    import json

    from core.figure import save_sweep_png
    from core.sweep import parse_sizes, run_sweep, sweep_config, sweep_payload
    from core.vary import SIZE, Vary, parse_vary

    executor = _executor(args)
    strategies, base, data = _strategies_and_data(args)
    vary = parse_vary(args.vary) if args.vary else Vary(SIZE, tuple(parse_sizes(args.sizes)))
    total = len(vary.values) * args.seeds * len(strategies)
    done = []

    def report(record):
        done.append(record)
        accuracy = f"{record.test_accuracy:.3f}" if record.test_accuracy is not None else record.status
        print(f"[{len(done)}/{total}] {record.strategy:<14} {vary.setting}={record.value:<8g} seed={record.seed} "
              f"accuracy={accuracy} ({record.train_seconds:.1f} s)", file=sys.stderr)

    n_train = None if vary.is_size else args.n_train
    records = run_sweep(data, base, strategies, vary, args.seeds, n_test=args.n_test, n_val=args.n_val,
                        n_train=n_train, on_record=report, executor=executor)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = sweep_config({"data": args.data}, base, strategies, vary, args.seeds, args.n_test, n_train)
    payload = sweep_payload(config, records)
    (out / "sweep.json").write_text(json.dumps(payload, indent=2))
    save_sweep_png(payload["summary"], out / "sweep.png", vary)
    for row in payload["summary"]:
        print(f"{row['strategy']:<14} {vary.setting}={row['value']:<8g} {row['mean_accuracy']:.3f} "
              f"+- {row['std_accuracy']:.3f}")
    print(f"\nwrote {out / 'sweep.json'} and {out / 'sweep.png'}")
    return 0


def cmd_predict(args) -> int:
    """Print label and confidence for texts, or write a CSV of predictions for a file."""
    import pandas as pd

    from core.columns import text_column_of
    from core.predict import load_predictor, prediction_fields
    from core.tables import read_table, safe_csv

    predictor = load_predictor(args.model)
    if args.file:
        table = read_table(args.file)
        column = text_column_of(table, args.text_column)
        predictions = predictor.predict(table[column].astype(str).tolist())
        rows = [{"text": text, **prediction_fields(p)} for text, p in zip(table[column], predictions)]
        Path(args.output).write_text(safe_csv(pd.DataFrame(rows, columns=list(rows[0]) if rows else ["text"])),
                                     encoding="utf-8")
        print(f"wrote {len(predictions)} predictions to {args.output}")
        return 0
    if not args.texts:
        raise LabError("Give a text to classify, or --file with a table of texts.")
    for text, p in zip(args.texts, predictor.predict(args.texts)):
        # label<TAB>confidence<TAB>text (a number for regression; more columns for more targets)
        fields = "\t".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in prediction_fields(p).values())
        print(f"{fields}\t{text}")
    return 0


def cmd_export(args) -> int:
    """Export a saved neural run to ONNX: the model, its tokenizer and a manifest, side by side."""
    from core.export import check_format, export_onnx, manifest_path, onnx_path_for, tokenizer_path

    check_format(args.format)
    path = export_onnx(args.model, args.out or onnx_path_for(args.model))
    print(f"wrote model {path}\n  tokenizer {tokenizer_path(path)}\n  manifest {manifest_path(path)}")
    return 0


def cmd_explain(args) -> int:
    """Print the prediction, the method, then token<TAB>weight per token in text order, and the base value."""
    from core.explain import explain
    from core.predict import load_predictor

    predictor = load_predictor(args.model)
    explanation = explain(predictor, args.text, args.target_class)
    prediction = predictor.predict([args.text])[0]
    confidence = f" ({prediction.confidence:.3f})" if prediction.confidence is not None else ""
    print(f"prediction: {prediction.label}{confidence}\nmethod: {explanation.method}\n"
          f"explains: {explanation.output_name} = {explanation.output:.4f}")
    for token, weight in zip(explanation.tokens, explanation.weights):
        print(f"{token}\t{weight:+.4f}")
    print(f"base value: {explanation.base_value:.4f}")
    for note in explanation.notes:
        print(f"note: {note}")
    return 0


def main(argv=None) -> int:
    """Entry point; a LabError prints one line and exits with status 2."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "devices", 1) > 1 and not distributed.launched():  # compare --devices N
            return distributed.relaunch(args.devices, args.device, sys.argv[1:] if argv is None else list(argv))
        commands = {"compare": cmd_compare, "sweep": cmd_sweep, "predict": cmd_predict, "export": cmd_export,
                    "serve": cmd_serve, "explain": cmd_explain}
        return commands[args.command](args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
