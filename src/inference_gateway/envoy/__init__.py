"""Envoy in standalone mode: the generated bootstrap (``bootstrap``), the fallback EDS file
(``endpoints_file``) and the process launcher (``process``)."""
