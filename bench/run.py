"""`make bench`: run the benchmarks in bench/ (bench_*.py), each printing JSON lines.

    python bench/run.py [--only pipeline rules ...] [--pipeline-args "--clients 2000"]

Each benchmark runs with its own defaults; `--<name>-args` passes options to one of
them (for example `--pipeline-args "--clients 10000 --config pg1"`). bench_million.py
runs only when named: `--only million [--million-args "--events 100000 --clients 10000"]`. The load average
is printed before each one, since the figures depend on what else the machine runs.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run only when named with --only: a million events end to end takes far longer than the rest.
OPT_IN = {"million"}


def main() -> int:
    scripts = {p.stem[len("bench_") :]: p for p in sorted(HERE.glob("bench_*.py"))}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [name for name in scripts if name not in OPT_IN]
    parser.add_argument("--only", nargs="*", choices=list(scripts), default=default)
    for name in scripts:
        parser.add_argument(f"--{name}-args", default="", help=f"options for bench_{name}.py")
    args = parser.parse_args()
    failed = 0
    for name in args.only:
        extra = shlex.split(getattr(args, f"{name}_args"))
        print(f"# bench_{name}.py {' '.join(extra)}".rstrip(), flush=True)
        print(
            json.dumps(
                {
                    "benchmark": name,
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ),
            flush=True,
        )
        failed += subprocess.call([sys.executable, str(scripts[name]), *extra]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
