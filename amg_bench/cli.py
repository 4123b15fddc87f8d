"""The ``amg-bench`` command line: a thin click layer over the library.

Every command parses its options and calls one library function. Heavy imports (torch,
datasets, diffusers, open_clip) happen inside the commands so ``amg-bench --help`` is fast.
Expected failures (:class:`amg_bench.errors.AmgBenchError`) print one line and exit 1.
"""

from __future__ import annotations

import sys

import click

from .errors import AmgBenchError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AmgBenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amg-bench")
def main() -> None:
    """amg-bench: the avatar-motion dataset toolkit and benchmark for human video generation."""
