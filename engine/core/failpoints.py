"""Named points where a process fails on purpose, for the fault drills (tests/drills).

A drill starts a worker with ENGINE_FAILPOINTS="NAME=ACTION[,NAME=ACTION...]" and the worker
fails at that point of the code, every time it passes it, instead of at a random moment that a
drill would have to catch by polling. NAME[DETAIL] arms the point only where the code passes that
detail (a generator's name, say). Actions:

    kill        SIGKILL this process (a pool child dies; its parent sees it go)
    kill-group  SIGKILL this process's whole group (a worker and its children: a lost host)
    sleep:S     wait S seconds (widen a window a drill must hit)

Unset (production), `hit` costs one dictionary lookup. Points:

    candidates.generated[GENERATOR]   a generation job stored its candidates and has not acknowledged them yet
"""

import os
import signal
import time
from functools import lru_cache


@lru_cache(maxsize=1)
def _armed(spec):
    points = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        if not action or not (action in ("kill", "kill-group") or action.startswith("sleep:")):
            raise ValueError(f"ENGINE_FAILPOINTS item {item!r}: write NAME=kill, NAME=kill-group or NAME=sleep:SECONDS")
        points[name] = action
    return points


def hit(name, detail=None):
    """Fail here if the environment arms the point `name` (or `name[detail]`); otherwise do nothing."""
    armed = _armed(os.environ.get("ENGINE_FAILPOINTS", ""))
    action = armed.get(name) or (armed.get(f"{name}[{detail}]") if detail is not None else None)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "kill-group":
        os.killpg(os.getpgid(0), signal.SIGKILL)
    else:
        time.sleep(float(action.split(":", 1)[1]))
