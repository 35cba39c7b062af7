"""The out-of-scope detector over the transformer's features: distance to the nearest intent."""
import numpy as np
import pytest

from nlu.artifact import ArtifactError
from nlu.detector import Mahalanobis, load_detector


def clusters(rng, n=200, dim=16):
    centres = rng.normal(0, 5, (3, dim))
    labels = rng.integers(0, 3, n)
    return centres[labels] + rng.normal(0, 1, (n, dim)), labels, centres


def test_texts_near_an_intent_score_high_and_far_ones_low():
    rng = np.random.default_rng(0)
    features, labels, centres = clusters(rng)
    detector = Mahalanobis.fit(features, labels)
    near = detector.score(centres + rng.normal(0, 0.5, centres.shape))
    far = detector.score(rng.normal(0, 30, (20, 16)))
    assert near.min() > 0.5 > far.max()
    assert np.all(far > 0) and np.all(near <= 1)


def test_the_distance_is_measured_in_the_shared_covariance():
    """A direction the intents vary a lot in counts less than one they never vary in."""
    rng = np.random.default_rng(1)
    features = rng.normal(0, 1, (400, 2)) * [3.0, 0.3]
    detector = Mahalanobis.fit(features, np.zeros(400, int))
    along, across = detector.distances(np.array([[6.0, 0.0], [0.0, 1.5]]))
    assert along < across


def test_a_saved_detector_scores_the_same(tmp_path):
    rng = np.random.default_rng(2)
    features, labels, _ = clusters(rng)
    detector = Mahalanobis.fit(features, labels)
    detector.save(tmp_path / "detector.npz")
    again = load_detector(tmp_path / "detector.npz")
    probe = rng.normal(0, 5, (5, 16))
    np.testing.assert_allclose(again.score(probe), detector.score(probe), rtol=1e-6)


@pytest.mark.parametrize("content", [b"", b"not a numpy file", b"PK\x03\x04broken zip"])
def test_an_unreadable_detector_is_an_artifact_error(tmp_path, content):
    (tmp_path / "detector.npz").write_bytes(content)
    with pytest.raises(ArtifactError, match="detector.npz: not a readable detector"):
        load_detector(tmp_path / "detector.npz")


def test_a_detector_of_another_kind_or_shape_is_refused(tmp_path):
    np.savez(tmp_path / "a.npz", kind=np.array("knn"), whiten=np.eye(3), means=np.zeros((2, 3)))
    with pytest.raises(ArtifactError, match="kind 'knn' is unknown"):
        load_detector(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", kind=np.array("mahalanobis"), whiten=np.eye(3), means=np.zeros((2, 4)))
    with pytest.raises(ArtifactError, match="do not fit"):
        load_detector(tmp_path / "b.npz")
