"""The one thing pyproject.toml cannot declare without setuptools' experimental
table: the enrichment's token loops in C (processors/enrich/_ctext.c).

Optional: where no C compiler is at hand the install goes on, and the same loops
run in Python (each module falls back to its reference function). Everything
else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "processors.enrich._ctext",
    sources=["processors/enrich/_ctext.c"],
    # keyword scores equal numpy's bit for bit: no fused multiply-add
    extra_compile_args=["-ffp-contract=off"],
    optional=True,
)])
