"""The parts of the generated service that are the same for every deployment.

These modules are real Python, linted and unit-tested here, and copied verbatim into a
deployment's ``api/`` package: the family of the model decides which scoring module goes
(``scoring_<family>.py`` becomes ``api/scoring.py``). What varies per deployment is data,
``api/model_spec.json`` (:mod:`.spec`). They import only each other and the libraries the
deployment's requirements pin, never the deployment agent.
"""
