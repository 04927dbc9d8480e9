"""The test and demo kit: what plays the other side of the exchange so that the gateway can be
run and tested without real recipients. A throwaway PKI (:mod:`pki`), mock recipients
answering like the real endpoints (:mod:`mock_recipient`), the whole exchange on loopback in
one process (:mod:`loopback`) and ``gateway demo`` on top of it (:mod:`demo`).

Production code never imports this package (tests/test_architecture.py holds the rule): only
the CLI commands that run it (``gateway demo``, ``gateway mock-recipient``, lazily), the tests
and the benchmarks do. Imports nothing eagerly."""
