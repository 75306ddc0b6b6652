"""FVD: the Fréchet distance against SciPy, the protocols' frame selection, the I3D detector and its loading."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from safetensors.torch import save_file

from stages.errors import InputError
from stages.evaluation.fvd import (PROTOCOLS, FVDScore, Protocol, frechet_distance, fvd_from_features, gaussian_statistics,
                        preprocess, select_frames, video_features)
from stages.evaluation.i3d import InceptionI3d, MaxPoolSame, load_detector, pad_same, random_detector


def scipy_frechet(real: np.ndarray, fake: np.ndarray) -> float:
    """The textbook formula with SciPy's general (non-symmetric) matrix square root."""
    mu_a, mu_b = real.mean(0), fake.mean(0)
    cov_a, cov_b = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


@pytest.mark.parametrize("kernel, stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((3, 3, 3), (2, 2, 2)),
                                            ((2, 2, 2), (2, 2, 2))])
def test_max_pool_one_axis_at_a_time_equals_torchs(kernel, stride):
    """I3D's four pools (odd and even sizes, so SAME padding is uneven too) against torch's 3-D max pool."""
    x = torch.relu(torch.randn(2, 5, 9, 14, 11, generator=torch.Generator().manual_seed(0)))
    expected = torch.nn.functional.max_pool3d(pad_same(x, list(kernel), list(stride)), kernel, stride)
    assert torch.equal(MaxPoolSame(kernel, stride)(x), expected)


def test_frechet_distance_is_zero_for_identical_sets():
    features = np.random.default_rng(0).normal(size=(50, 400))
    assert fvd_from_features(features, features) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("count, dim", [(300, 64), (600, 400)])
def test_frechet_distance_matches_scipy(count, dim):
    rng = np.random.default_rng(count)
    real = rng.normal(size=(count, dim)) @ rng.normal(size=(dim, dim)) * 0.3
    fake = rng.normal(0.5, 1.5, size=(count, dim)) @ rng.normal(size=(dim, dim)) * 0.3
    ours = fvd_from_features(real, fake)
    assert ours == pytest.approx(scipy_frechet(real, fake), rel=1e-6)
    assert ours > 1.0


def test_frechet_distance_of_two_known_gaussians():
    # Diagonal covariances: ‖μa − μb‖² + Σ (√a − √b)² per dimension.
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_with_singular_covariances_stays_real():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(10, 400)), rng.normal(size=(12, 400)) + 0.1
    value = fvd_from_features(real, fake)
    assert np.isfinite(value) and value > 0


def test_fewer_than_two_videos_is_refused():
    with pytest.raises(InputError, match="at least 2 videos"):
        gaussian_statistics(np.zeros((1, 400)))


def test_protocol_frame_selection():
    frames = np.arange(70)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    fvd16 = select_frames(frames, PROTOCOLS["fvd16"])
    assert fvd16[:, 0, 0, 0].tolist() == list(range(0, 48, 3))
    assert select_frames(frames, PROTOCOLS["fvd60"])[:, 0, 0, 0].tolist() == list(range(60))
    assert PROTOCOLS["fvd16"].frames_needed == 46
    select_frames(frames[:46], PROTOCOLS["fvd16"])
    with pytest.raises(InputError, match="at least 46 frames"):
        select_frames(frames[:45], PROTOCOLS["fvd16"])


def test_preprocess_resizes_and_scales():
    frames = np.zeros((4, 30, 50, 3), np.uint8)
    frames[:, :, :, 0] = 255
    video = preprocess(frames)
    assert video.shape == (3, 4, 224, 224) and video.dtype == torch.float32
    assert torch.allclose(video[0], torch.tensor(1.0), atol=1e-5) and torch.all(video[1:] == -1.0)


def test_scores_with_different_n_are_not_compared():
    a = FVDScore("fvd16", 100.0, 162, 162, "abc")
    assert a.difference(FVDScore("fvd16", 90.0, 162, 162, "abc")) == pytest.approx(10.0)
    for other in (FVDScore("fvd16", 90.0, 100, 100, "abc"), FVDScore("fvd60", 90.0, 162, 162, "abc"),
                  FVDScore("fvd16", 90.0, 162, 162, "other")):
        with pytest.raises(InputError, match="not comparable"):
            a.difference(other)


def test_i3d_architecture():
    model = InceptionI3d()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(12.7e6, rel=0.01)
    names = set(model.state_dict())
    assert {"Conv3d_1a_7x7.conv3d.weight", "Mixed_5c.b3b.bn.running_var", "logits.conv3d.bias"} <= names


def test_random_detector_features_and_fvd_of_videos():
    detector = random_detector(0)
    rng = np.random.default_rng(0)
    still = [np.repeat(rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8), 9, axis=0) for _ in range(2)]
    noisy = [rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)]
    protocol = Protocol("nine", 1, 9)
    features = video_features(detector, still + noisy, protocol, batch_size=2)
    assert features.shape == (3, 400) and features.dtype == np.float64
    assert np.all(np.isfinite(features)) and features.std() > 1e-3
    assert not np.allclose(features[0], features[2])
    assert random_detector.__wrapped__(0).sha256 == detector.sha256 != random_detector(1).sha256  # rebuilt, not memoised


class FeatureSwitchI3d(torch.nn.Module):
    """The call signature of the TorchScript port of the TF-Hub FVD detector: logits only when asked."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        logits = self.model(x)
        if rescale or resize or not return_features:
            return torch.softmax(logits, dim=1)
        return logits


def test_detector_files_state_dict_and_torchscript(tmp_path):
    reference = random_detector(3)
    state_path = tmp_path / "i3d_state.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.model.state_dict().items()}}, state_path)
    safetensors_path = tmp_path / "i3d.safetensors"
    save_file(reference.model.state_dict(), str(safetensors_path))
    script_path = tmp_path / "i3d_script.pt"
    torch.jit.script(reference.model).save(str(script_path))
    switch_path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(FeatureSwitchI3d(reference.model)).save(str(switch_path))
    for path in (state_path, safetensors_path):  # the same architecture: equal weights are equal outputs
        detector = load_detector(path)
        assert len(detector.sha256) == 64 and detector.source.endswith(path.name)
        for name, tensor in reference.model.state_dict().items():
            assert torch.equal(detector.model.state_dict()[name], tensor), name
    videos = torch.rand(1, 3, 9, 224, 224) * 2 - 1
    expected = reference(videos)
    for path in (script_path, switch_path):
        detector = load_detector(path)
        assert len(detector.sha256) == 64 and detector.source.endswith(path.name)
        torch.testing.assert_close(detector(videos), expected, rtol=1e-4, atol=1e-4)


def test_missing_or_wrong_detector_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CINEMAGRAPH_MODELS", str(tmp_path / "models"))
    with pytest.raises(InputError, match=r"models/i3d/i3d_kinetics400.pt"):
        load_detector()
    wrong = tmp_path / "wrong.pt"
    torch.save({"weight": torch.zeros(3)}, wrong)
    with pytest.raises(InputError, match="not an InceptionI3d state dict"):
        load_detector(wrong)
