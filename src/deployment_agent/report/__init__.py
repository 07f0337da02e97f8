"""The report a person reads after the first day: drift per feature and realized quality
over time, from the inference log, the feedback and the manifest's reference sample, as an
HTML page made by Evidently (``environment.py``, ``data.py``, ``render.py``, ``build.py``).
"""
