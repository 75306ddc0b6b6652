"""What both trainers share: options, data, networks' setup (device, precision, Adam optimisers, the
generator's moving average), the loop with progress bar, periodic validation, loss log and resumable state.

:class:`GanTraining` is the setup both trainers derive from; :class:`Trainer` is the loop it holds.

The loop calls ``step(batch, iteration) -> {loss name: value}`` for each iteration and ``validate() ->
{metric: value}`` every ``validate_every`` iterations and at the end. Its resumable state (weights,
optimisers, gradient scaler, iteration) is written to ``work_dir/state.pt`` every ``checkpoint_every``
iterations; a new run with the same ``work_dir`` continues from there. Mean losses are appended to
``work_dir/losses.csv`` every ``log_every`` iterations, validation metrics to ``work_dir/validation.csv``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from stages.devices import auto_precision, resolve_device
from stages.errors import InputError
from stages.files import load_tensors
from stages.learned.checkpoint import save_checkpoint
from stages.learned.data import EulerianClips, StageDataOptions
from stages.options import check_keys, pick
from stages.values import COUNT, DEVICE, RATE, SEED, Range, ruled

STATE = "state.pt"
LOSSES = "losses.csv"
VALIDATION = "validation.csv"


@dataclass(frozen=True)
class LoopOptions:
    """Knobs of the training loop (the trainer's params section; unknown keys are ignored)."""

    iterations: int = ruled(400, COUNT)
    """Optimisation steps."""
    batch_size: int = ruled(8, COUNT)
    lr_g: float = ruled(2e-4, RATE)
    """Adam learning rate of the generator."""
    lr_d: float = ruled(4e-4, RATE)
    """Adam learning rate of the discriminators (two time-scale update rule: faster than the generator)."""
    lr_schedule: str = "constant"
    """constant, or cosine: both learning rates follow half a cosine from their value down to 0 at the last
    iteration (large early steps, fine late ones)."""
    beta1: float = ruled(0.5, Range(0, 1))
    beta2: float = ruled(0.999, Range(0, 1))
    validate_every: int = ruled(100, COUNT)
    checkpoint_every: int = ruled(100, COUNT)
    log_every: int = ruled(10, COUNT)
    seed: int = ruled(0, SEED)
    device: str = ruled("auto", DEVICE)
    """auto (CUDA when present, else CPU), cpu, cuda, cuda:N."""
    precision: str = "auto"
    """auto (bfloat16 autocast on GPUs that support it, else float16; float32 on CPU), float32, float16, bfloat16."""
    workers: int = ruled(0, Range(0, 256, integer=True))
    """Data-loading processes (0: in the training process)."""
    ema_decay: float = ruled(0.99, Range(0, 1))
    """Decay of the exponential moving average of the generator's weights, which is validated and exported
    (smooths the last iterations' GAN noise); 0: the raw weights."""

    @classmethod
    def from_params(cls, section: dict) -> "LoopOptions":
        """Options from a params.yaml section, taking the keys it names."""
        options = pick(cls, section)
        if options.lr_schedule not in ("constant", "cosine"):
            raise InputError(f"lr_schedule must be constant or cosine, got {options.lr_schedule!r}")
        return options

    def lr_factor(self, iteration: int) -> float:
        """The learning rates' multiplier at ``iteration`` (0-based) of ``iterations``."""
        if self.lr_schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * iteration / max(self.iterations, 1)))


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device``, or None for plain float32."""
    choices = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name == "auto":
        return auto_precision(device)
    if name not in choices:
        raise InputError(f"precision must be auto, float32, float16 or bfloat16, got {name!r}")
    if device.type == "cpu" and name == "float16":
        raise InputError("float16 autocast needs a GPU; on CPU use float32 or bfloat16")
    return choices[name]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(dataset: Dataset, options: LoopOptions) -> DataLoader:
    """A shuffling DataLoader whose workers each reseed the dataset's augmentation stream differently."""
    def reseed_worker(_: int) -> None:
        info = torch.utils.data.get_worker_info()
        info.dataset.reseed(torch.initial_seed() % 2**32)

    generator = torch.Generator().manual_seed(options.seed)
    return DataLoader(dataset, batch_size=options.batch_size, shuffle=True, drop_last=True,
                      num_workers=options.workers, worker_init_fn=reseed_worker if options.workers else None,
                      generator=generator, persistent_workers=options.workers > 0)


def endless(loader: DataLoader) -> Iterator[dict]:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        if not yielded:
            raise InputError(f"the training split has fewer clips than one batch ({loader.batch_size}): "
                             "add clips or lower batch_size")


def as_batch(sample: dict) -> dict:
    """A dataset sample as a batch of one: tensors gain a batch axis, numbers become tensors, strings lists."""
    def batched(value):
        if isinstance(value, torch.Tensor):
            return value[None]
        return torch.tensor([value]) if isinstance(value, (int, float)) else [value]

    return {name: batched(value) for name, value in sample.items()}


def to_device(batch: dict, device: torch.device) -> dict:
    """Move a batch's tensors to ``device`` (strings and numbers stay)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """average ← decay · average + (1 − decay) · model, parameter by parameter (buffers are copied)."""
    for mean, current in zip(average.parameters(), model.parameters()):
        mean.lerp_(current, 1.0 - decay)
    for mean, current in zip(average.buffers(), model.buffers()):
        mean.copy_(current)


class Trainer:
    """The shared loop. ``modules`` and ``optimizers`` (by name) are saved and restored with the state."""

    def __init__(self, options: LoopOptions, work_dir: str | Path, modules: dict[str, nn.Module],
                 optimizers: dict[str, torch.optim.Optimizer], signature: str):
        self.options, self.work_dir, self.signature = options, Path(work_dir), signature
        self.modules, self.optimizers = modules, optimizers
        self.base_lr = {name: [group["lr"] for group in o.param_groups] for name, o in optimizers.items()}
        self.device = resolve_device(options.device)
        self.precision = resolve_precision(options.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == torch.float16)
        self.iteration = 0
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op in float32)."""
        if self.precision is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision)

    def optimise(self, loss: torch.Tensor, name: str) -> None:
        """Backpropagate ``loss`` and step optimiser ``name`` (through the gradient scaler)."""
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)

    def save_state(self) -> None:
        """Write the resumable state atomically."""
        state = {"signature": self.signature, "iteration": self.iteration, "scaler": self.scaler.state_dict(),
                 "modules": {k: m.state_dict() for k, m in self.modules.items()},
                 "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()}}
        partial = self.work_dir / f".{STATE}.partial"
        torch.save(state, partial)
        partial.replace(self.work_dir / STATE)

    def load_state(self) -> bool:
        """Restore the state from ``work_dir`` if it was written by the same configuration → whether it was."""
        path = self.work_dir / STATE
        if not path.is_file():
            return False
        try:
            state = load_tensors(path, f"the training state {path}", map_location=self.device)
        except Exception as error:  # a torn or foreign file: start over rather than fail
            print(f"ignoring unreadable training state {path}: {error}")
            return False
        if state.get("signature") != self.signature:
            return False
        for name, module in self.modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        return True

    def run(self, batches: Iterator[dict], step: Callable[[dict, int], dict[str, float]],
            validate: Callable[[], dict[str, float]], description: str) -> dict[str, float]:
        """Train to ``options.iterations`` (resuming when possible) → the final validation metrics."""
        resumed = self.load_state()
        seed_everything(self.options.seed + self.iteration)
        keep = self.iteration if resumed else 0
        losses_log, validation_log = LossLog(self.work_dir / LOSSES, keep), LossLog(self.work_dir / VALIDATION, keep)
        progress = tqdm(total=self.options.iterations, initial=self.iteration, desc=description, unit="it")
        totals: dict[str, float] = {}
        while self.iteration < self.options.iterations:
            for module in self.modules.values():
                module.train()
            self._schedule_learning_rates()
            losses = step(to_device(next(batches), self.device), self.iteration)
            self.scaler.update()
            self.iteration += 1
            progress.update(1)
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value / self.options.log_every
            if self.iteration % self.options.log_every == 0:
                losses_log.append(self.iteration, totals)
                progress.set_postfix({k: f"{v:.4g}" for k, v in totals.items()})
                totals = {}
            if self.iteration % self.options.validate_every == 0 and self.iteration < self.options.iterations:
                validation_log.append(self.iteration, self._validate(validate))
            if self.iteration % self.options.checkpoint_every == 0:
                self.save_state()
        progress.close()
        metrics = self._validate(validate)
        validation_log.append(self.iteration, metrics)
        self.save_state()
        return metrics

    def _schedule_learning_rates(self) -> None:
        """Set each optimiser's learning rates for the current iteration (a function of it: resumes exactly)."""
        factor = self.options.lr_factor(self.iteration)
        for name, optimizer in self.optimizers.items():
            for group, base in zip(optimizer.param_groups, self.base_lr[name]):
                group["lr"] = base * factor

    def _validate(self, validate: Callable[[], dict[str, float]]) -> dict[str, float]:
        for module in self.modules.values():
            module.eval()
        with torch.inference_mode():
            return validate()


class LossLog:
    """A CSV log for DVC plots: one row per logged iteration, columns ``step`` then every value seen.

    Rows after ``keep_until`` (iterations redone after resuming) are dropped when the log is reopened.
    """

    def __init__(self, path: Path, keep_until: int):
        self.path = path
        self.rows: list[dict] = []
        if keep_until and path.is_file():
            with path.open() as stream:
                self.rows = [r for r in csv.DictReader(stream) if int(r["step"]) <= keep_until]
        self._write()

    def append(self, step: int, values: dict[str, float]) -> None:
        """Add the row of ``step``, replacing one already there (a finished run resumed validates its last step
        again); rewrites the file, which stays small."""
        self.rows = [row for row in self.rows if int(row["step"]) != step]
        self.rows.append({"step": step, **{k: round(float(v), 6) for k, v in values.items()}})
        self._write()

    def _write(self) -> None:
        columns = ["step"] + sorted({k for row in self.rows for k in row} - {"step"})
        with self.path.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)


class GanTraining:
    """The setup both trainers share: a generator trained against multi-scale discriminators.

    A subclass names its params section (``section_name``) and options dataclass (``options_type``, a
    StageDataOptions with ``from_params``), calls :meth:`setup` with a function building its networks, and
    ends its ``step`` with :meth:`optimise_generator`.
    """

    section_name: str
    options_type: type[StageDataOptions]

    def __init__(self, data_root: str | Path, section: dict, work_dir: str | Path):
        check_keys(section, self.section_name, self.options_type, LoopOptions, extra=("data",))
        self.options = self.options_type.from_params(section)
        self.loop = LoopOptions.from_params(section)
        self.work_dir = Path(work_dir)
        self.train_set = EulerianClips(data_root, "train", self.options.clips(self.options.crop), True, self.loop.seed)
        self.validation_set = EulerianClips(data_root, "validation", self.options.clips(None), False)
        self.signature = json.dumps({"section": section, "data": str(data_root)}, sort_keys=True, default=str)

    def setup(self, build: Callable[[], tuple[nn.Module, nn.Module]], *helpers: nn.Module) -> None:
        """Seed torch and ``build`` (generator, discriminator); hold the generator (``self.generator``), its
        moving average (``self.average``, validated and exported) and the discriminator with their Adam
        optimisers in ``self.trainer``; move them and the ``helpers`` (fixed networks such as a perceptual
        loss) to the training device."""
        torch.manual_seed(self.loop.seed)
        self.generator, self.discriminator = generator, discriminator = build()
        self.average = copy.deepcopy(generator).requires_grad_(False)
        betas = (self.loop.beta1, self.loop.beta2)
        modules = {"g": generator, "d": discriminator, "average": self.average}
        optimizers = {"g": torch.optim.Adam(generator.parameters(), self.loop.lr_g, betas=betas),
                      "d": torch.optim.Adam(discriminator.parameters(), self.loop.lr_d, betas=betas)}
        self.trainer = Trainer(self.loop, self.work_dir, modules, optimizers, self.signature)
        for module in (*modules.values(), *helpers):
            module.to(self.trainer.device)

    def optimise_generator(self, loss: torch.Tensor) -> None:
        """Step the generator on ``loss`` and update its moving average."""
        self.trainer.optimise(loss, "g")
        update_average(self.average, self.generator, self.loop.ema_decay)

    def fit(self, step: Callable[[dict, int], dict[str, float]], validate: Callable[[], dict[str, float]],
            description: str) -> dict[str, float]:
        """Train on shuffled batches of the training clips (resuming when possible) → final validation metrics."""
        return self.trainer.run(endless(make_loader(self.train_set, self.loop)), step, validate, description)

    def export(self, out_dir: str | Path, architecture: str, config: dict, metrics: dict, **extra) -> Path:
        """Write the averaged generator's checkpoint (``architecture``, its ``config``, the iterations, the
        rounded ``metrics`` and ``extra`` facts) into ``out_dir``."""
        return save_checkpoint(out_dir, architecture, self.average, config, iterations=self.trainer.iteration,
                               metrics={k: round(v, 6) for k, v in metrics.items()}, **extra)
