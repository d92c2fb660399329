"""The Jinja2 side of the HTML and Markdown reports: environment, compiled-template cache,
the sources' section partials, and streaming a template to an output.

The templates live in ``reports/`` (`analyzer.resources.reports_dir`): ``report.<fmt>.j2`` is
a report's frame (overview, verdict, findings, parse report) and ``sections/<source>.<fmt>.j2``
is one source's section, imported by the frame in the order of `analyzer.render.sections`
(`section_partials`). A partial defines some of these macros, each called where its part goes:

- HTML: ``nav()`` and ``cards()`` (its links in the header and its overview cards),
  ``lead_nav()`` and ``lead()`` (a part shown right after the verdict: the thread timeline),
  ``main()`` (its section), ``appendix_nav()`` and ``appendix()`` (after the parse report),
  ``footer()`` (a note on its times), ``scripts()`` (its scripts, at the end of the page);
- Markdown: ``overview()`` (a line under the inputs), ``lead()`` (after the verdict),
  ``main()``, ``appendix()``.

A macro's name is never a source's name: a partial's own variables are often named after its
source (``top``, ``perf``), and a variable would hide the macro of that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import IO, TYPE_CHECKING, Any

from markupsafe import Markup

from analyzer.render import formatting
from analyzer.render.base import RenderError
from analyzer.render.sections import section_names
from analyzer.resources import reports_dir

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "include_file",
    "render_template",
    "section_partials",
    "template_bytecode_cache",
    "template_environment",
]


def include_file(name: str) -> Markup:
    """The verbatim text of ``reports/<name>`` (a trusted asset such as the CSS) as Markup."""
    if "/" in name or "\\" in name or name.startswith("."):
        raise RenderError(f"include_file takes a plain file name, not {name!r}")
    return Markup((reports_dir() / name).read_text(encoding="utf-8"))


@cache
def section_partials(extension: str) -> tuple[str, ...]:
    """The template names ``sections/<source>.<extension>.j2`` that exist, in report order
    (`extension`: ``html`` or ``md``)."""
    folder = reports_dir() / "sections"
    return tuple(
        f"sections/{name}.{extension}.j2"
        for name in section_names()
        if (folder / f"{name}.{extension}.j2").is_file()
    )


def template_bytecode_cache(options: Mapping[str, Any]) -> jinja2.BytecodeCache | None:
    """Jinja2's cache of compiled templates in its private temporary directory
    (``/tmp/_jinja2-cache-UID``, which Jinja2 checks is the user's own, mode 0700).

    Compiling the HTML and Markdown templates took 0.4-0.5 s of every default run; loading
    their code takes 2 ms. A compiled template is reused only for the same template file and
    source (Jinja2 checks both); the file names also carry the Jinja2 version and the
    environment's options, which change the compiled code. Without a usable directory the
    templates are compiled every time, as before.
    """
    import contextlib
    import hashlib

    import jinja2

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            # A cache that cannot be written is no cache, not an error.
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    settings = repr((jinja2.__version__, sorted(options.items()))).encode()
    tag = hashlib.sha1(settings).hexdigest()[:12]
    try:
        return QuietCache(pattern=f"__iodiag_{tag}_%s.cache")
    except (OSError, RuntimeError):
        return None


@cache
def template_environment(autoescape: bool) -> jinja2.Environment:
    """The Jinja2 environment for ``reports/*.j2``: HTML with autoescape, Markdown without.

    Filters: ``duration``, ``count``, ``percent``, ``short``, ``ts``, ``clock``, ``md`` (escape
    inline Markdown), ``code`` (a Markdown code span), ``fence`` (a fenced code block) and
    ``html`` (HTML-escaped text, for raw HTML such as ``<summary>`` in the Markdown report);
    ``tojson`` dumps with sorted keys.
    Cached, so templates are compiled once per process, and their compiled code is kept
    between runs (`template_bytecode_cache`). Jinja2 is imported here, on first use: the
    JSON, Parquet and folded outputs need no templates.
    """
    import jinja2

    options: dict[str, Any] = {
        "autoescape": autoescape,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir())),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=template_bytecode_cache(options),
        **options,
    )
    env.filters.update(
        duration=formatting.duration,
        count=formatting.count,
        percent=formatting.percent,
        short=formatting.short,
        ts=formatting.timestamp,
        clock=formatting.clock_label,
        md=formatting.md_text,
        code=formatting.md_code,
        prose=formatting.md_prose,
        prose_html=formatting.html_prose,
        fence=formatting.md_fence,
        html=formatting.html_text,
    )
    env.globals["include_file"] = include_file
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (", ", ": ")}
    return env


def render_template(
    name: str, out: IO[str], *, autoescape: bool, context: Mapping[str, Any]
) -> None:
    """Stream template `name` rendered with `context` to `out`, chunk by chunk."""
    template = template_environment(autoescape).get_template(name)
    for chunk in template.generate(**context):
        out.write(chunk)
