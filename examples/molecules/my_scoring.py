"""A user's own scoring function for the reward stage (examples/molecules/my_scoring_budget.toml):
a list of SMILES in, one number in [0, 1] each out. This one wants molecules like celecoxib's
diaryl-pyrazole (Tanimoto on Morgan counts) that stay drug-like (QED); an unparsable SMILES
scores 0. Replace the body with your own model or assay proxy; each call of it is what the
budget counts (one new valid molecule, one call)."""

from rdkit import Chem, DataStructs
from rdkit.Chem import QED, rdFingerprintGenerator

LEAD = Chem.MolFromSmiles("Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1")
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2)
_LEAD_FP = _MORGAN.GetSparseCountFingerprint(LEAD)


def score(smiles: list[str]) -> list[float]:
    """Similarity to the lead (saturating at 0.6) times QED, per SMILES."""
    out = []
    for text in smiles:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            out.append(0.0)
            continue
        similar = DataStructs.TanimotoSimilarity(_MORGAN.GetSparseCountFingerprint(mol), _LEAD_FP)
        out.append(min(similar / 0.6, 1.0) * QED.qed(mol))
    return out
