"""`edge-time` command line: thin click commands over the Python API.

Each room's commands live in their own module here; this file only assembles them and turns
EdgeTimeError into a one-line message with exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import click

from edge_time import __version__
from edge_time.errors import EdgeTimeError


class EdgeTimeGroup(click.Group):
    """Every refusal is one line on stderr and exit code 2: edge-time's own errors and bad options alike."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeTimeError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        except click.UsageError as exc:  # a subcommand's bad or missing option, parsed in super().invoke
            command = exc.ctx.command_path if exc.ctx else ctx.command_path
            click.secho(f"error: {exc.format_message()} (see `{command} --help`)", fg="red", err=True)
            sys.exit(2)


class WarningLines(logging.Handler):
    """edge-time's own warnings (logger ``edge_time``) as ``warning: ...`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.secho(f"warning: {record.getMessage()}", fg="yellow", err=True)


def show_warnings() -> None:
    edge_logger = logging.getLogger("edge_time")
    if not any(isinstance(h, WarningLines) for h in edge_logger.handlers):
        edge_logger.addHandler(WarningLines(logging.WARNING))
        edge_logger.propagate = False


# Loggers of the toolchain whose warnings are about the toolchain itself (deprecations inside
# torch, optional CUDA kernels torchao cannot load on a CPU machine), not about the user's run.
TOOLCHAIN_LOGGERS = ("torch", "torchao", "executorch", "onnxscript", "absl")


def quiet_toolchain() -> None:
    """Keep the toolchain's own deprecation chatter out of the user's terminal (``-v`` keeps it).

    Only warnings about library internals are hidden: FutureWarning/DeprecationWarning from any
    package, UserWarnings raised inside torch/onnxscript, and WARNING-level records of the
    toolchain's loggers. Errors, edge-time's own messages and every exception still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow/absl INFO lines from the LiteRT converter
    os.environ.setdefault("TORCH_LOGS", "-torch")  # torch configures its loggers from this when it is imported
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|onnxscript)(\.|$)")
    for name in TOOLCHAIN_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@click.group(cls=EdgeTimeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-time")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show the toolchain's own warnings (torch, torchao, ExecuTorch, LiteRT deprecations).")
def main(verbose: bool) -> None:
    """Distil tiny monolingual encoders, fine-tune them, export them to phones and boards, and
    measure them there.

    \b
    Start with `edge-time quickstart`: the whole flow on built-in data, offline, in ~2 minutes.
    \b
    The flow:
      edge-time distill   teacher + corpus      -> student (HF folder)
      edge-time finetune  student + labelled    -> task model
      edge-time export    model                 -> bundle (ExecuTorch / TFLite / ONNX)
      edge-time profile   bundle                -> latency, memory, energy report
      edge-time bench     models + labelled     -> accuracy vs speed / energy / size, Pareto plot
    Run `edge-time COMMAND --help` for examples.
    """
    show_warnings()
    if not verbose:
        quiet_toolchain()


def _register() -> None:
    from edge_time.cli import bench, distill, export, profile, quickstart, tasks

    for module in (quickstart, distill, tasks, export, profile, bench):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
