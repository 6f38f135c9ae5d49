"""A deepchem activity model (Morgan fingerprints + random forest) trained on the series'
property."""

from __future__ import annotations

import math

import numpy as np

from .quiet import deepchem


class PropertyModel:
    """Predicts the series' property (e.g. pIC50) from 2048-bit Morgan fingerprints."""

    def __init__(self, seed: int = 0, trees: int = 200) -> None:
        from sklearn.ensemble import RandomForestRegressor

        dc = deepchem()
        self.model = dc.models.SklearnModel(
            RandomForestRegressor(n_estimators=trees, min_samples_leaf=2, n_jobs=1,
                                  random_state=seed))

    def _dataset(self, molecules: list, values: list[float] | None = None):
        """Morgan radius-2, 2048-bit fingerprints (RDKit's generator: the same bits as
        deepchem's ``CircularFingerprint(size=2048, radius=2)``, checked on the series and
        samples, at a tenth of its time, which went on converting bit vectors to arrays)."""
        from rdkit import Chem

        from .metrics.molecular import fingerprints

        mols = [Chem.MolFromSmiles(m) if isinstance(m, str) else m for m in molecules]
        x = fingerprints([m for m in mols if m is not None], size=2048).astype(np.float32)
        if len(x) != len(mols):
            raise ValueError("the property model was given an invalid molecule")
        return deepchem().data.NumpyDataset(
            x, None if values is None else np.asarray(values, np.float32))

    def fit(self, molecules: list, values: list[float]) -> PropertyModel:
        """Train on the molecules (SMILES or RDKit mols) whose value is a number."""
        keep = [i for i, v in enumerate(values) if not math.isnan(v)]
        self.model.fit(self._dataset([molecules[i] for i in keep], [values[i] for i in keep]))
        return self

    def predict(self, molecules: list) -> np.ndarray:
        """Predicted property of each molecule."""
        if not molecules:
            return np.zeros(0)
        return np.asarray(self.model.predict(self._dataset(molecules))).reshape(-1)

    def r2(self, molecules: list, values: list[float]) -> float:
        """Coefficient of determination on the molecules whose value is a number."""
        pairs = [(m, v) for m, v in zip(molecules, values) if not math.isnan(v)]
        if len(pairs) < 2:
            return float("nan")
        from sklearn.metrics import r2_score

        return float(r2_score([v for _, v in pairs], self.predict([m for m, _ in pairs])))
