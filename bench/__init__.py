"""`doit bench`: serving and build benchmarks, each figure set against baselines of the same run.

- :mod:`bench.subjects`: the servers (ours in every runtime, the peers, the floors);
- :mod:`bench.load`: load them with wrk and measure;
- :mod:`bench.build`: build timings, image sizes, start to ready, no-op doit;
- :mod:`bench.targets` and :mod:`bench.report`: targets met or missed, RESULTS.md.

Everything runs on this machine, against servers on 127.0.0.1 started by the bench itself,
with the same worker count for every HTTP server. These are measurements, not tests:
nothing fails because a figure is slow; each target is marked met or missed.
"""
