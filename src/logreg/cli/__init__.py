"""The ``logreg`` command: user mistakes end in one ``logreg: error: ...`` line, exit 2 (``LOGREG_DEBUG=1``: a
traceback). ``convert`` and ``export`` run on their own: ``convert`` needs neither torch nor Lightning."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from typing import Any

from jsonargparse import ArgumentParser

from logreg.cli.about import SUBCOMMANDS, overview, versions
from logreg.cli.errors import Stopped, is_user_error, one_line
from logreg.data.readers import FLATTENED, convert


def convert_command(args: list[str]) -> None:
    """``logreg convert SOURCE OUT_DIR [--label NAME | --unlabelled true]``: see :func:`logreg.data.readers.convert`."""
    parser = ArgumentParser(
        prog="logreg convert",
        description="Stream a CSV or Parquet file into OUT_DIR/x.npy (float32), y.npy and meta.json, for data "
        "larger than memory: train on it with --data FileDataModule --data.path OUT_DIR.",
        exit_on_error=False,
    )
    parser.add_argument("source", type=str, help="CSV or Parquet file with a header")
    parser.add_argument("out_dir", type=str, help="new directory to write (must not exist, or be empty)")
    parser.add_argument("--label", type=str, default="label", help="name of the label column (it must be there)")
    parser.add_argument("--unlabelled", type=bool, default=False,
                        help="the file has no labels (data for predict): every column is a feature")  # fmt: skip
    config = parser.parse_args(args)
    if config.unlabelled and "--label" in (word.split("=", 1)[0] for word in args):
        raise ValueError("logreg convert: give --label NAME or --unlabelled true, not both")
    table = convert(config.source, config.out_dir, None if config.unlabelled else config.label)
    rows, columns = table.features.shape
    classes = table.classes
    if table.labels is None:
        labels = "no labels"
    elif len(classes) == 1:
        labels = f"every label is {classes[0]!r}: data to evaluate a model on, not to train one"
    else:
        labels = f"labels 0 = {classes[0]!r}, 1 = {classes[1]!r}"
    print(f"wrote {config.out_dir}: {rows} rows x {columns} features ({labels})")
    if table.flattened:
        print(f"logreg: warning: {config.source}: {FLATTENED.format(', '.join(table.flattened))}", file=sys.stderr)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``logreg`` command; ``args`` (default ``sys.argv[1:]``) as on the command line."""
    words = sys.argv[1:] if args is None else list(args)
    if words == ["--version"]:
        print(versions())
        return
    if not words:  # the subcommands, and exit 2 like any command line that runs nothing (`logreg $EMPTY` fails)
        print(overview())
        sys.exit(2)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm) if main_thread else None
    try:
        if words[0] == "--version":
            raise ValueError(f"--version takes no arguments, got {' '.join(words[1:])!r}")
        if not words[0].startswith("-") and words[0] not in SUBCOMMANDS:  # (LightningCLI would list only its four)
            raise ValueError(f"unknown subcommand {words[0]!r} (choose from {', '.join(SUBCOMMANDS)})")
        if words[0] == "convert":
            convert_command(words[1:])
        elif words[0] == "export":
            from logreg.cli.export import export_command  # onnx and its exporter only for this command

            export_command(words[1:])
        else:
            from logreg.cli.lightning import build_cli
            from logreg.training import quiet_known_noise

            quiet_known_noise()
            build_cli(args)
    except Stopped as stop:
        if is_rank_zero():
            print(f"logreg: {stop}", file=sys.stderr)
        sys.exit(stop.code)
    except BrokenPipeError:  # `logreg fit | head`: the reader left; stop quietly, as other commands do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except Exception as err:
        if not is_user_error(err) or os.environ.get("LOGREG_DEBUG"):
            raise
        if is_rank_zero():  # under DDP every process fails alike; one message is enough
            print(f"logreg: error: {one_line(err, words)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if os.environ.get("LOGREG_DEBUG"):
            raise
        print("logreg: interrupted", file=sys.stderr)
        sys.exit(130)  # the shell's code for a command ended by Ctrl-C
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if distributed_is_initialized():
            atexit.unregister(destroy_process_group)  # (once, however many runs the process makes)
            atexit.register(destroy_process_group)


def console() -> None:
    """The ``logreg`` console script and ``python -m logreg``: :func:`main`, then ``os._exit`` with its exit code, which
    skips the interpreter's teardown of torch and Lightning (seconds of CPU). Streams and logs are flushed first and
    the run's files were closed by then (TensorBoard's by the logger's ``finalize``); nothing of logreg's is left to
    an ``atexit`` handler. A distributed run (its process group destroyed first), or a thread still running, exits as
    usual."""
    try:
        main()
        code = 0
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
        if not isinstance(end.code, (int, type(None))):
            print(end.code, file=sys.stderr)
    if distributed_is_initialized():
        destroy_process_group()
        sys.exit(code)
    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        sys.exit(code)
    for stream in [stream for stream in (sys.stdout, sys.stderr) if stream is not None]:  # None: `logreg ... >&-`
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that left (`logreg fit | head`), or a closed stream
            code = code or 120  # what the interpreter exits with when its final flush fails
    logging.shutdown()
    os._exit(code)  # (documented in os: exit without cleanup handlers; the leading underscore is its name)


def distributed_is_initialized() -> bool:
    """Whether a distributed run in this process left its process group (for the process's later runs)."""
    distributed = sys.modules.get("torch.distributed")
    return distributed is not None and distributed.is_available() and distributed.is_initialized()


def destroy_process_group() -> None:
    """Destroys the process group a distributed run left. Lightning destroys only an NCCL group at exit; a gloo group
    left to the interpreter's teardown can abort the process ("terminate called without an active exception", exit
    -6) after a run that succeeded, so :func:`main` registers this at exit, and :func:`console` calls it."""
    if distributed_is_initialized():
        sys.modules["torch.distributed"].destroy_process_group()


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM outside a Lightning run: one line, exit 143, cleaned up as any error (during a run, Lightning's handler
    stops it and calls this one too, which then does nothing)."""
    if signal.getsignal(signal.SIGTERM) is stop_on_sigterm:
        raise Stopped("stopped by SIGTERM", 128 + signal.SIGTERM)


def is_rank_zero() -> bool:
    """False in the other processes of a distributed run (which only a Lightning subcommand starts)."""
    utilities = sys.modules.get("lightning.pytorch.utilities")
    return utilities is None or utilities.rank_zero_only.rank == 0


__all__ = ["console", "main"]
