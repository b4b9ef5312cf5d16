"""The bench runner: runs cases and writes one result file per case (the only place that writes them).

    python bench/run.py CASE [CASE ...] [--quick] [--tag TAG] [--results DIR] [options of one case]
    python bench/run.py prediction rt_length --quick    # several cases; 'all' runs every case this machine can
    python bench/run.py frozen_cache --help             # a case's own options

A case is any module bench/CASE.py with a top-level `run(args) -> dict` (its setup and timed body,
calling core's public API) and optionally `add_arguments(parser)`; `python bench/CASE.py ARGS` is
the same as `python bench/run.py CASE ARGS`. Each case writes RESULTS/CASE[.TAG][.quick].json: the machine
(versions, CPU, threads, OMP policy, load averages and busy processes at start and end), the git
commit, a UTC timestamp, the command, the case's wall seconds, then what the case returned.
`--quick` runs tiny sizes in seconds, only to check that a case works: its numbers mean nothing,
and `python bench/report.py` leaves `.quick.json` files out of the tables.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

import _common  # first: sets OMP_WAIT_POLICY before anything imports torch
from _common import RESULTS, ROOT, Stopwatch, busy_processes, load_average, machine_info

BENCH = Path(__file__).resolve().parent


def discover_cases() -> tuple[str, ...]:
    """Every bench/NAME.py with a top-level `def run(`: a new case needs no registration here."""
    return tuple(sorted(path.stem for path in BENCH.glob("*.py") if not path.stem.startswith("_")
                        and re.search(r"^def run\(", path.read_text(), re.MULTILINE)))


CASES = discover_cases()


def runs_here(name: str) -> bool:
    """False for a case that needs a CUDA GPU (a top-level `NEEDS_CUDA = True`) on a machine without one."""
    if not re.search(r"^NEEDS_CUDA = True", (BENCH / f"{name}.py").read_text(), re.MULTILINE):
        return True
    import torch

    return torch.cuda.is_available()


def runner_parser() -> argparse.ArgumentParser:
    """Options every case shares; anything else goes to the case's own parser."""
    p = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0], add_help=False,
                                epilog=f"cases: {', '.join(CASES)}; `python bench/run.py CASE --help`: its options")
    p.add_argument("cases", nargs="+", metavar="CASE", help="case names, or 'all'")
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds; writes CASE[.TAG].quick.json")
    p.add_argument("--tag", default="", help="result file CASE.TAG.json (keeps earlier results of the case)")
    p.add_argument("--results", type=Path, default=RESULTS, help=f"folder for result files (default {RESULTS})")
    p.add_argument("--skip", default="", help="comma-separated cases to leave out (with 'all')")
    p.add_argument("--omp-default", action="store_true",
                   help="keep libgomp's spin-waiting default instead of OMP_WAIT_POLICY=PASSIVE (read by _common)")
    return p


def chosen_cases(names: list[str], skip: str) -> list[str]:
    """Case names in the order given ('all' = every case this machine can run), minus --skip; unknown names
    are an error."""
    wanted = [name for name in CASES if runs_here(name)] if names == ["all"] else names
    unknown = [n for n in wanted + [s for s in skip.split(",") if s] if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; cases: {', '.join(CASES)}")
    return [n for n in wanted if n not in skip.split(",")]


def case_arguments(name: str, module, common: argparse.Namespace, rest: list[str]) -> argparse.Namespace:
    """The runner's options plus the case's own, parsed from what the runner did not recognise."""
    p = argparse.ArgumentParser(prog=f"python bench/run.py {name}", description=module.__doc__.splitlines()[0],
                                epilog="and the runner's: --quick, --tag TAG, --results DIR, --omp-default")
    if hasattr(module, "add_arguments"):
        module.add_arguments(p)
    return argparse.Namespace(**vars(common), **vars(p.parse_args(rest)))


def write_result(name: str, args: argparse.Namespace, info: dict, payload: dict) -> Path:
    """RESULTS/NAME[.TAG][.quick].json with the machine block first, then the case's payload."""
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{name}{'.' + args.tag if args.tag else ''}{'.quick' if args.quick else ''}.json"
    machine = {**info, "load_average_end": load_average(), "busy_processes_end": busy_processes()}
    record = {"benchmark": name, "tag": args.tag, "quick": args.quick, "machine": machine, **payload}
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    shown = path.relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    print(f"wrote {shown}")
    return path


def run_case(name: str, args: argparse.Namespace) -> Path:
    """Import bench/NAME.py, run it with its arguments, write its result file."""
    module = importlib.import_module(name)
    info = machine_info()
    with Stopwatch() as sw:
        payload = module.run(args)
    info["case_seconds"] = round(sw.seconds, 2)
    return write_result(name, args, info, payload)


def main(argv: list[str] | None = None) -> list[Path]:
    """Parse the command line, run each chosen case in turn; returns the result files written."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        runner_parser().print_help()
        return []
    common, rest = runner_parser().parse_known_args(argv)  # a case's --help reaches its own parser
    names = chosen_cases(common.cases, common.skip)
    if rest and len(names) > 1:
        raise SystemExit(f"options {' '.join(rest)} belong to one case; name a single case to pass them")
    written = []
    for name in names:
        args = case_arguments(name, importlib.import_module(name), common, rest)
        _common.log(f"case {name}{' (quick)' if common.quick else ''}")
        written.append(run_case(name, args))
    return written


def main_as_script(case_file: str) -> None:
    """`python bench/CASE.py ARGS`: the same as `python bench/run.py CASE ARGS`."""
    main([Path(case_file).stem, *sys.argv[1:]])


if __name__ == "__main__":
    main()
