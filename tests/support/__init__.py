"""Fixtures' machinery that later test suites reuse: real brokers and databases on free ports."""
