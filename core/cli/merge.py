"""``bench merge OUT.db IN.db...``: results measured on several machines become one store."""

from __future__ import annotations

import click

from pocketbench.core.api.errors import ExitCode


def add_commands(group: click.Group) -> None:
    @group.command("merge")
    @click.argument("out", type=click.Path(dir_okay=False))
    @click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False))
    @click.pass_context
    def merge_cmd(ctx: click.Context, out: str, sources: tuple[str, ...]) -> None:
        """Merge the runs of SOURCES into OUT (created if missing); merging twice adds nothing.

        Campaigns of one name that measured different things are kept apart
        (the source's as NAME@FILE) and reported.
        """
        from pathlib import Path

        from pocketbench.core.api.errors import UsageError
        from pocketbench.core.cli.common import echo_err
        from pocketbench.core.kit.destination import destination
        from pocketbench.core.results.merge import merge_into
        from pocketbench.core.results.store import Store

        # A store is a file SQLite rewrites in place with journals beside it:
        # a device or FIFO cannot hold one, and a symlink is followed so the
        # journals sit beside the real file.
        try:
            where = destination(Path(out))
        except OSError as exc:
            raise UsageError(f"cannot merge into {out}: {exc.strerror or exc}") from None
        if where.through:
            raise UsageError(
                f"cannot merge into {out}: it is not a regular file (a device, FIFO or"
                " descriptor); name a results file as OUT"
            )
        out = str(where.path)
        target = where.path.resolve()
        for s in sources:
            if Path(s).resolve() == target:
                raise UsageError(f"{s} is the output file itself; name it once, as OUT")
        with Store.open(out, option="OUT") as store:
            for s in sources:
                report = merge_into(store, s)
                click.echo(report.line())
                for line in report.conflicts:
                    echo_err(f"note: {line}")
        ctx.exit(int(ExitCode.OK))
