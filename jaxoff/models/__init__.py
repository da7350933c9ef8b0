"""Model families, one module per paper; each exposes `SUBMODELS = {"<spec id>": class}`.

`get("trading_tasks/M1")` returns a sub-model class; `available()` lists what is installed.
"""
from __future__ import annotations

import difflib
import importlib

FAMILIES = {
    "trading_tasks": "Grossman and Rossi-Hansberg (2008, AER), Trading Tasks",
    "similar_countries": "Grossman and Rossi-Hansberg (2008, NBER WP 14554), Task Trade between Similar Countries",
    "shadow_migration": "Baldwin and Robert-Nicoud (2007, NBER WP 12991), Offshoring as shadow migration",
    "export_magnification": "Kleinert and Zorell (2012, ECB WP 1430), The export-magnification effect of offshoring",
    "skill_upgrading": "Offshoring with heterogeneous workers and skill upgrading (seed 002, Yeaple-type)",
    "structural_gravity": "Structural gravity in general equilibrium (Anderson-van Wincoop 2003; Yotov et al. 2016)",
    "armington": "Many-country, many-sector Armington economy with roundabout production (textbook; synthetic data)",
    "caliendo_parro": "Caliendo and Parro (2015, REStud), trade in intermediates across regions and sectors",
}


def family(name: str):
    """Import a family module by name (with a did-you-mean on typos)."""
    if name not in FAMILIES:
        hint = difflib.get_close_matches(name, list(FAMILIES), n=1, cutoff=0.4)
        raise KeyError(f"unknown model family '{name}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                       + f" Families: {', '.join(FAMILIES)}.")
    return importlib.import_module(f"{__name__}.{name}")


def available() -> dict[str, list[str]]:
    """Families that import, with their sub-model ids."""
    out = {}
    for name in FAMILIES:
        try:
            out[name] = list(family(name).SUBMODELS)
        except ImportError:  # a family whose module is not installed in this checkout
            continue
    return out


def get(spec: str):
    """The sub-model class for 'family/ID', e.g. get('trading_tasks/M1')."""
    if "/" not in spec:
        raise KeyError(f"name a sub-model as 'family/ID', e.g. 'trading_tasks/M1'; got '{spec}'")
    fam, sub = spec.split("/", 1)
    subs = family(fam).SUBMODELS
    if sub not in subs:
        hint = difflib.get_close_matches(sub, list(subs), n=1, cutoff=0.3)
        raise KeyError(f"{fam} has no sub-model '{sub}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                       + f" Sub-models: {', '.join(subs)}.")
    return subs[sub]
