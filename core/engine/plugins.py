"""Finding plugins and building plugin managers.

Plugins arrive through two entry-point groups, ``pocketbench.backends`` and
``pocketbench.reporters``; the entry point's name is the name on the command
line.  Built-ins are declared in pocketbench's own pyproject.toml the same
way.  Nothing is imported until it is needed, so one broken plugin costs a
warning naming its distribution and breaks only itself.

Every job gets a fresh manager holding exactly one backend (plus the core's
defaults and wrappers); every rendering, a manager holding one reporter.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from pocketbench.core.api.errors import UsageError, unknown_choice
from pocketbench.core.api.hooks import PROJECT
from pocketbench.core.api.model import BackendInfo, MetricInfo, ReporterInfo
from pocketbench.core.engine import hookspecs
from pocketbench.core.kit.status import say

if TYPE_CHECKING:
    from pocketbench.core.results.findings import Findings
    from pocketbench.core.results.report import Report, ReportOptions, Vocabulary

BACKENDS = "pocketbench.backends"
REPORTERS = "pocketbench.reporters"
#: Set to 1 to load only pocketbench's own plugins (also ``bench --no-plugins``).
DISABLE_ENV = "POCKETBENCH_DISABLE_PLUGINS"
#: Entry-point group where pocketbench's own pyproject.toml names its defaults.
DEFAULTS = "pocketbench.defaults"
#: Environment variable naming the backend ``bench`` uses without ``--backend``.
DEFAULT_ENV = "POCKETBENCH_BACKEND"
OWN_DISTRIBUTION = "pocketbench"


@attrs.define
class PluginSource:
    """Where a plugin comes from: an entry point, or an object given in code."""

    name: str
    group: str
    distribution: str
    entry_point: md.EntryPoint | None = None
    obj: Any = None
    error: str | None = None
    details: str | None = None

    def load(self) -> Any:
        if self.obj is None and self.error is None and self.entry_point is not None:
            try:
                self.obj = self.entry_point.load()
            except Exception as exc:  # any import-time failure of foreign code
                self.error = f"{type(exc).__name__}: {exc}"
                self.details = traceback.format_exc()
        return self.obj


def _warn_default(message: str) -> None:
    say(f"warning: {message}")


@attrs.define
class Registry:
    """Known backends and reporters by name; loads each on first use."""

    sources: dict[str, dict[str, PluginSource]] = attrs.field(
        factory=lambda: {BACKENDS: {}, REPORTERS: {}}
    )
    warn: Callable[[str], None] = _warn_default
    _infos: dict[str, BackendInfo] = attrs.field(factory=dict)

    @classmethod
    def from_entry_points(
        cls, *, third_party: bool | None = None, warn: Callable[[str], None] | None = None
    ) -> Registry:
        """Discover plugins (without importing them).

        ``third_party=False`` (or ``POCKETBENCH_DISABLE_PLUGINS=1``) keeps only
        the plugins pocketbench itself ships.
        """
        reg = cls(warn=warn or _warn_default)
        if third_party is None:
            third_party = os.environ.get(DISABLE_ENV, "").strip() in ("", "0")
        for group in (BACKENDS, REPORTERS):
            for ep in md.entry_points(group=group):
                dist = ep.dist.name if ep.dist is not None else "unknown distribution"
                if not third_party and dist.lower() != OWN_DISTRIBUTION:
                    continue
                known = reg.sources[group].get(ep.name)
                if known is not None:
                    if known.distribution != dist:
                        reg._warn(
                            f"{_kind(group)} {ep.name!r} is provided by both {known.distribution}"
                            f" and {dist}; using {known.distribution}"
                        )
                    continue
                reg.sources[group][ep.name] = PluginSource(ep.name, group, dist, entry_point=ep)
        return reg

    def _warn(self, message: str) -> None:
        self.warn(message)

    def add(self, group: str, name: str, obj: Any, distribution: str = "(in-process)") -> None:
        """Register a plugin object directly (tests, embedding applications)."""
        self.sources[group][name] = PluginSource(name, group, distribution, obj=obj)
        self._infos.pop(name, None)

    def remove(self, group: str, name: str) -> None:
        self.sources[group].pop(name, None)
        self._infos.pop(name, None)

    def names(self, group: str) -> list[str]:
        return sorted(self.sources[group])

    def backend_names(self) -> list[str]:
        return self.names(BACKENDS)

    def default_backend(self) -> str:
        """``$POCKETBENCH_BACKEND``, else the one pocketbench's pyproject.toml names.

        pocketbench declares it as data (``[project.entry-points."pocketbench.defaults"]
        backend = NAME``), so the core names no backend.
        """
        chosen = os.environ.get(DEFAULT_ENV, "").strip()
        if chosen:
            return chosen
        for ep in md.entry_points(group=DEFAULTS):
            dist = ep.dist.name if ep.dist is not None else ""
            if ep.name == "backend" and dist.lower() == OWN_DISTRIBUTION:
                return ep.value
        return next(iter(sorted(self.sources[BACKENDS])), "")

    def reporter_names(self) -> list[str]:
        return self.names(REPORTERS)

    def load(self, group: str, name: str) -> Any:
        """The plugin object called ``name``; unknown or broken -> one-line error."""
        source = self.sources[group].get(name)
        if source is None:
            raise unknown_choice(_kind(group), name, self.names(group))
        obj = source.load()
        if obj is None:
            raise UsageError(
                f"{_kind(group)} {name!r} from {source.distribution} failed to load ({source.error});"
                f" reinstall or uninstall {source.distribution}"
            )
        return obj

    def try_load_all(self, group: str) -> dict[str, Any]:
        """Load every plugin of a group, warning about the broken ones."""
        loaded = {}
        for name, source in sorted(self.sources[group].items()):
            obj = source.load()
            if obj is None:
                self._warn(
                    f"{_kind(group)} {name!r} from {source.distribution} failed to load:"
                    f" {source.error}"
                )
            else:
                loaded[name] = obj
        return loaded

    # -- managers ---------------------------------------------------------------

    def backend_manager(self, name: str, extra: Iterable[Any] = ()) -> pluggy.PluginManager:
        """A fresh manager with exactly the backend ``name`` and the core's plugins."""
        from pocketbench.core.engine.builtin import CorePlugin

        pm = new_manager()
        plugin = self.load(BACKENDS, name)
        _register(pm, plugin, f"backend:{name}", self.sources[BACKENDS][name].distribution)
        pm.register(CorePlugin(pm), name="pocketbench-core")
        for i, p in enumerate(extra):
            pm.register(p, name=f"extra:{i}:{type(p).__name__}")
        _check(pm, self.sources[BACKENDS][name].distribution)
        return pm

    def backend_info(self, name: str) -> BackendInfo:
        """What backend ``name`` declares (asked once per registry)."""
        if name not in self._infos:
            self._infos[name] = self._backend_info(name)
        return self._infos[name]

    def _backend_info(self, name: str) -> BackendInfo:
        pm = new_manager()
        _register(
            pm,
            self.load(BACKENDS, name),
            f"backend:{name}",
            self.sources[BACKENDS][name].distribution,
        )
        info = pm.hook.pocketbench_backend_info()
        if not isinstance(info, BackendInfo):
            raise UsageError(
                f"backend {name!r} from {self.sources[BACKENDS][name].distribution} does not"
                " describe itself (pocketbench_backend_info returned nothing)"
            )
        return info

    def reporter_manager(self, name: str) -> pluggy.PluginManager:
        pm = new_manager()
        dist = self.sources[REPORTERS][name].distribution if name in self.sources[REPORTERS] else ""
        _register(pm, self.load(REPORTERS, name), f"reporter:{name}", dist)
        _check(pm, dist)
        return pm

    def reporter_info(self, name: str) -> ReporterInfo:
        info = self.reporter_manager(name).hook.pocketbench_reporter_info()
        if not isinstance(info, ReporterInfo):
            raise UsageError(f"reporter {name!r} does not describe itself")
        return info

    def vocabulary(self) -> Vocabulary:
        """What every loadable backend calls its schemes and its own figures (for reports)."""
        from pocketbench.core.results.report import Vocabulary

        labels: dict[tuple[str, str], str] = {}
        metrics: dict[str, MetricInfo] = {}
        for name in self.backend_names():
            try:
                info = self.backend_info(name)
            except UsageError:
                continue  # a broken backend was warned about; its results show raw names
            labels.update({(name, s.name): s.display for s in info.schemes})
            for m in info.metrics:
                metrics.setdefault(m.name, m)
        return Vocabulary(scheme_labels=labels, metrics=metrics)

    def render(self, fmt: str, report: Report, options: ReportOptions) -> str | bytes:
        """Render ``report`` with the reporter plugin called ``fmt``."""
        out = self.reporter_manager(fmt).hook.pocketbench_render(report=report, options=options)
        return _rendered(fmt, "pocketbench_render", out)

    def findings_formats(self) -> list[str]:
        """Reporters that can render a study's findings document."""
        names = []
        for name in self.reporter_names():
            try:
                pm = self.reporter_manager(name)
            except UsageError:
                continue
            if pm.hook.pocketbench_render_findings.get_hookimpls():
                names.append(name)
        return names

    def render_findings(self, fmt: str, findings: Findings, options: ReportOptions) -> str | bytes:
        """Render a study's findings document with the reporter plugin called ``fmt``."""
        if fmt not in self.findings_formats():
            raise unknown_choice("findings format", fmt, self.findings_formats())
        pm = self.reporter_manager(fmt)
        out = pm.hook.pocketbench_render_findings(findings=findings, options=options)
        return _rendered(fmt, "pocketbench_render_findings", out)


def _rendered(fmt: str, hook: str, out: object) -> str | bytes:
    if not isinstance(out, (str, bytes)):
        raise UsageError(f"reporter {fmt!r} rendered nothing; its {hook} returned {out!r}")
    return out


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, distribution: str) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise UsageError(f"plugin {name} from {distribution} is invalid: {exc}") from exc


def _check(pm: pluggy.PluginManager, distribution: str) -> None:
    # A misspelled hook name would otherwise be silently ignored.
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise UsageError(
            f"plugin from {distribution} implements an unknown hook: {exc}; fix the hook name"
        ) from exc


def _kind(group: str) -> str:
    return "backend" if group == BACKENDS else "reporter"
