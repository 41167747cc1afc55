"""Run an rq worker and, when it stops, write its peak memory (self and work-horses)."""
import json
import resource
import signal
import sys

from engine import config as config_mod
from engine.events.jobs import run_worker


def main(out_path: str) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    try:
        run_worker(config_mod.load())
    except SystemExit:
        pass
    finally:
        usage = {"self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
        with open(out_path, "w") as fh:
            json.dump(usage, fh)


if __name__ == "__main__":
    main(sys.argv[1])
