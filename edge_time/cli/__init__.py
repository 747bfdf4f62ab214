"""`edge-time` command line: thin click commands over the Python API.

Each room's commands live in their own module here; this file only assembles them and turns
EdgeTimeError into a one-line message with exit status 2.
"""

from __future__ import annotations

import sys

import click

from edge_time import __version__
from edge_time.errors import EdgeTimeError


class EdgeTimeGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeTimeError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=EdgeTimeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-time")
def main() -> None:
    """Distil tiny monolingual encoders, fine-tune them, export them to phones and boards, and
    measure them there.

    \b
    The flow:
      edge-time distill   teacher + corpus      -> student (HF folder)
      edge-time finetune  student + labelled    -> task model
      edge-time export    model                 -> bundle (ExecuTorch / TFLite / ONNX)
      edge-time profile   bundle                -> latency, memory, energy report
    Run `edge-time COMMAND --help` for examples.
    """


def _register() -> None:
    from edge_time.cli import bench, distill, export, profile, quickstart, tasks

    for module in (quickstart, distill, tasks, export, profile, bench):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
