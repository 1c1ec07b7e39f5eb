"""``framefill colorspaces``: the OCIO colour spaces ``--colorspace`` may name; and the shared colour options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from framefill.cli import cli, make_output, output_options, run_command

F = TypeVar("F", bound=Callable[..., Any])

# Each command's colour flags, so an error names what was typed.
COLOR_FLAGS = {"color_config": "--config", "colorspace": "--colorspace"}


_INPUT_SPACE_HELP = ("The input's colour space in the OCIO config (name or alias; `framefill colorspaces` lists "
                     "them). Default: an EXR's chromaticities (Rec.709, ACES AP0/AP1, P3-D65, Rec.2020), else the "
                     "config's scene_linear role (built-in config: Linear Rec.709); PNG/TIFF/JPEG: sRGB.")
_CONFIG_HELP = "OCIO config file or built-in (ocio://...). Default: $OCIO, else ocio://studio-config-latest."
_RECORDED = " Default: the colour setup the fill recorded in the manifest."


def _color_options(space_help: str, config_help: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        func = click.option("--colorspace", default=None, metavar="NAME", help=space_help)(func)
        return click.option("--config", "color_config", default=None, metavar="OCIO", help=config_help)(func)

    return decorate


# --config and --colorspace (request fields color_config and colorspace) of interpolate and upscale.
color_options = _color_options(_INPUT_SPACE_HELP, _CONFIG_HELP)
# The same for commands on a filled shot (qc, review): they override what the manifest recorded.
recorded_color_options = _color_options(
    "The shot's colour space in the OCIO config (`framefill colorspaces` lists them)." + _RECORDED,
    "OCIO config file or built-in (ocio://...)." + _RECORDED)


@cli.command("colorspaces")
@click.option("--config", "color_config", default=None, metavar="OCIO", help=_CONFIG_HELP)
@output_options
def colorspaces_command(color_config: str | None, json_mode: bool, events_mode: bool, quiet: bool) -> None:
    """List the colour spaces (names and aliases) and roles of the OCIO config that --colorspace names from."""
    from framefill import api

    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        payload = api.color_spaces(color_config)

        def human() -> None:
            click.echo(f"OCIO config {payload['config']}")
            for space in payload["spaces"]:
                aliases = f"  (aliases: {', '.join(space['aliases'])})" if space["aliases"] else ""
                click.echo(f"  {space['name']}{aliases}")
            click.echo("roles: " + ", ".join(f"{r} = {s}" for r, s in sorted(payload["roles"].items())))

        out.result(payload, human)
