"""Helpers for the cytokine tests: small synthetic xPONENT plates and plate maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myocit_omics.cytokines.simulate import write_xponent_plate


@pytest.fixture
def plate(tmp_path: Path):
    """Factory: write a synthetic xPONENT plate; return (path, truth)."""

    def make(name: str = "plate.csv", **kwargs):
        path = tmp_path / name
        truth = write_xponent_plate(path, **kwargs)
        return path, truth

    return make


@pytest.fixture
def bridged_pair(tmp_path: Path):
    """Two plates sharing 8 bridge samples, plate 2 with a planted sample offset, and a plate map.

    Returns a dict: paths, plate map path, truth per plate, the planted factor, patient of each sample.
    """

    def make(factor: float = 1.7, n_analytes: int = 3, seed: int = 11):
        rng = np.random.default_rng(seed)
        bridges = [f"BR-{i}" for i in range(1, 9)]
        own1 = [f"A-{i:02d}" for i in range(1, 30)]
        own2 = [f"B-{i:02d}" for i in range(1, 30)]
        conc = {n: float(np.exp(rng.uniform(np.log(20), np.log(4000)))) for n in bridges}
        conc |= {n: float(np.exp(rng.uniform(np.log(0.2), np.log(20000)))) for n in own1 + own2}
        p1, p2 = tmp_path / "plate1.csv", tmp_path / "plate2.csv"
        t1 = write_xponent_plate(
            p1,
            n_analytes=n_analytes,
            seed=seed,
            batch="RUN-A",
            sample_names=bridges + own1,
            sample_conc=conc,
            noise_cv=0.03,
        )
        t2 = write_xponent_plate(
            p2,
            n_analytes=n_analytes,
            seed=seed,
            batch="RUN-B",
            sample_names=bridges + own2,
            sample_conc=conc,
            sample_factor=factor,
            noise_cv=0.03,
            quoted=False,
            bom=True,
            date="26/02/2014",
        )
        patient = {}
        for i, n in enumerate(own1 + own2):
            patient[n] = (f"MYO-{i % 16 + 1:02d}", ["W0", "W4", "W24"][i // 16 % 3])
        rows = []
        for pid, t in (("P1", t1), ("P2", t2)):
            for w, (s, dil) in t.wells.items():
                if s.startswith("Standard"):
                    role, sid = "standard", s
                elif s.startswith("Background"):
                    role, sid = "background", ""
                elif s.startswith("BR"):
                    role, sid = "bridge", s
                else:
                    role, sid = "sample", s
                pat, vis = patient.get(s, ("", ""))
                rows.append(
                    {
                        "plate_id": pid,
                        "well": w,
                        "sample_id": sid,
                        "patient_id": pat,
                        "visit": vis,
                        "role": role,
                        "dilution_factor": "" if not np.isfinite(dil) else f"{dil:g}",
                    }
                )
        pm = tmp_path / "plate_map.csv"
        pd.DataFrame(rows).to_csv(pm, index=False)
        return {
            "plates": [p1, p2],
            "plate_map": pm,
            "truth": [t1, t2],
            "factor": factor,
            "patient": patient,
            "bridges": bridges,
        }

    return make
