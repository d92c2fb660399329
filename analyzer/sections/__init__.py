"""Report sections: what each source's tables say, as the plain JSON of `iodiag.report/1`.

One module per source (`strace`, `perf`, `asyncio`), named as the source's modules are in
`analyzer.formats` and `analyzer.derive`. A section reads derived tables only; it never sees
the findings, so it is built while the passes run.
"""
