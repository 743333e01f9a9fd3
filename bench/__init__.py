"""kura versus Distribution's proxy mode, on one machine, in one run (`make bench`).

Modules: ``run`` (orchestration and CLI), ``sizes`` (full and quick workloads),
``seed`` (the upstream and its synthetic images), ``procs`` (the two proxies as real
processes, start-up time, peak RSS), ``wrk`` (warm load through Debian's wrk),
``clients`` (cold pulls, TTFB and fan-out from a separate client process), ``report``
(the table and the JSON file).
"""
