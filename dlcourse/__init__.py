"""dlcourse: the small helper package the course notebooks import.

One module per job: `fastmode` (how big a run is), `data` (MNIST from data/), `seeding`
(reproducibility), `training` (the `fit` loop and its `History`), `plots` (figures),
`course` (the course model: its chapters, which are graded, their files and cell roles, and
its repository), `widgets` (interactive
figures), `probes` (measurements inside a network), `exercises` (whether a graded part is written yet),
`language` (the language of dlcourse's own figure labels and a font for it), `lab` (`make lab`).
Importing this package has no side effects: nothing is loaded or seeded until you ask.
"""

__version__ = "0.1.0"
