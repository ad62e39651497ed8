"""Abel reproduction: SFT-only math reasoning, from data curation to the paper's figures.

The package is built in floors; a module imports only from its own floor or those below
(``tests/test_layers.py`` enforces it over every import, and that ``dvc.yaml`` lists exactly the
code each stage runs):

- ``abel.cli``: the command line, on top.
- ``abel.stages``: one module per stage (``run`` / ``load``); no stage imports another.
- domain packages: ``data``, ``curation``, ``training``, ``generation``, ``scoring`` (grading),
  ``analysis``, ``report`` (figures and the report; it imports nothing from ``analysis``).
- answers: ``scoring.extract`` and ``scoring.numeric``, pure answer parsing (no grader, no sympy).
- core: ``config`` (schema, profiles, "auto" precision), ``io`` (atomic files), ``fingerprint`` (one
  hash for run keys and provenance), ``artifacts`` (every exchanged file's name, the metric key),
  ``provenance``, ``procs``, ``modelio`` (Abel's prompt, its encoding, the complete-checkpoint marker),
  ``checkpoint_export`` (SFT checkpoints as DVC outputs: the export sft writes, the manifest overfit reads).

Notebooks sit above the stages: parameters, ``run`` or ``load``, display.
"""

__version__ = "0.1.0"
