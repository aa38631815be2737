"""The enrichment's optional C module, processors/enrich/_ctext.c (built by setup.py).

`c_function(name)` is one of its functions, or None where the module was not built
(no C compiler at install time). Each caller then runs its Python reference, which
gives the same results, slower; tests/unit/enrich checks that both agree.
"""

from __future__ import annotations

try:
    from processors.enrich import _ctext
except ImportError:
    _ctext = None


def c_function(name: str):
    return getattr(_ctext, name, None)
