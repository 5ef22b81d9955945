"""Processes that end with the one that started them (no torch import: `python -m trainer` calls this first)."""
import ctypes
import os
import signal


def die_with_parent() -> None:
    """Be killed when the parent process dies (Linux; elsewhere nothing): a trainer with its job, a job with its worker.

    A job killed mid-run (its RQ work horse, by an OOM kill or `kill -9`) left the trainer running as
    an orphan, writing into the run folder that the retried job then resumes from: two trainers in one
    folder. PR_SET_PDEATHSIG ends the process with the thread that started it. The engine passes this as
    a `preexec_fn`: prctl is looked up at import, so between fork and exec the child only calls it.
    """
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def die_with_launcher() -> None:
    """Under torchrun, be killed when the launcher dies (without torchrun, nothing).

    torchrun starts each rank in a session of its own and does not pass its own death on: a SIGKILLed
    torchrun (its job's work horse lost, so `die_with_parent` killed it) left the ranks training on as
    orphans in the run folder. A launcher gone between the two `getppid` calls ends the rank at once.
    `python -m trainer` calls this first thing, and `distributed.init` again for scripts.
    """
    if "TORCHELASTIC_RUN_ID" not in os.environ or _PRCTL is None:
        return
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None
