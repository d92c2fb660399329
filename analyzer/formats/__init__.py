"""Parsers: one set of modules per source, each set named after its source.

``<source>.py`` detects and parses (lines -> the source's tables and its `unparsed` lines),
``<source>_record.py`` is the record of one line, ``<source>_lark.py`` the reference parser
built from ``grammars/<source>.lark``, and ``<source>_scan.py`` / ``_bytes.py`` /
``_assemble.py`` the fast paths proven equal to it. The registry of sources (and format
detection) is `analyzer.sources`.
"""
