"""Package list for setuptools (everything else is in pyproject.toml).

``framefill.openjd_templates`` is mapped from the top-level ``openjd_templates/``
folder, which ``find_packages("core")`` cannot see.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages("core", include=["framefill*"]), "framefill.openjd_templates"])
