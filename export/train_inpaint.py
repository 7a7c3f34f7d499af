"""Train the inpainting model: `python -m sfumato.export train inpaint [--resume] [--minutes M] [--device cuda]`.

Resumable and deterministic given --seed: the checkpoint (decoder weights and their moving average,
the discriminator's heads, optimizers, RNG states, step, elapsed time) is small enough to commit
(export/checkpoints/inpaint.pt), so long training can stop and continue in a later session.
Photos and their crops: inpaint_data.py; masks of every kind users make: inpaint_masks.py; the
discriminator: inpaint_discriminator.py. This module is the trainer and its checkpoint format.
`python -m sfumato.export build inpaint` exports the checkpoint (its moving average) to core/models.

Losses (LaMa's recipe, sized for a CPU): L1 in the hole; a perceptual L1 on frozen EfficientNet-Lite0
features; with --adversarial > 0, a projected discriminator (Sauer et al. 2021): small trained heads
on the same frozen features, non-saturating loss with the fake label only inside the hole, lazy R1 on
real features, and feature matching on the heads' hidden layer. Both images pass through the same
random shift and colour change first (DiffAugment), which keeps a small-data discriminator honest.
"""
from __future__ import annotations

import argparse
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sfumato import atomic

from . import source
from .inpaint_data import DATA, Batches, list_photos
from .inpaint_discriminator import Discriminator, augment, hole_at
from .nets.efficientnet_lite import EfficientNetLite0Features
from .nets.inpaint_net import InpaintNet

CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "inpaint.pt"


# --- training -----------------------------------------------------------------------------------

def make_net() -> InpaintNet:
    net = InpaintNet()
    net.encoder.load_pretrained(source.efficientnet_lite0_state())
    return net


def exported_weights(checkpoint: dict) -> dict:
    """The weights a checkpoint ships: the moving average where training kept one."""
    return checkpoint.get("ema", checkpoint["decoder"])


def trainable(net: InpaintNet) -> dict:
    return {k: v for k, v in net.state_dict().items() if not k.startswith("encoder.")}


class Trainer:
    """One training run: the generator (decoder; the encoder stays frozen), its moving average,
    the discriminator heads, their optimizers, and the checkpoint that holds all of them."""

    def __init__(self, args):
        torch.manual_seed(args.seed)
        self.args, self.rng = args, random.Random(args.seed)
        self.device = torch.device(args.device)
        self.net = make_net().to(self.device)
        self.net.encoder.eval()
        self.params = [p for n, p in self.net.named_parameters() if not n.startswith("encoder.")]
        self.opt = torch.optim.Adam(self.params, lr=args.lr, betas=(0.5, 0.999) if args.adversarial else (0.9, 0.999))
        self.features = EfficientNetLite0Features().load_pretrained(source.efficientnet_lite0_state()).to(self.device)
        self.disc = Discriminator(depth=args.disc_depth).to(self.device)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=args.lr_d, betas=(0.5, 0.999))
        self.ema = {k: v.detach().clone() for k, v in trainable(self.net).items()}
        self.aug_gen = torch.Generator().manual_seed(args.seed + 1)
        self.step, self.elapsed, self.history = 0, 0.0, []
        self.path = Path(args.checkpoint)

    def resume(self) -> None:
        ck = torch.load(self.path, map_location=self.device, weights_only=False)
        self.net.load_state_dict(ck["decoder"], strict=False)
        # a checkpoint from before the Fourier blocks and the discriminator: the new parts start fresh
        same_net = set(ck["decoder"]) == set(trainable(self.net))
        if same_net:
            self.opt.load_state_dict(ck["optimizer"])
        if "discriminator" in ck and set(ck["discriminator"]) == set(self.disc.state_dict()):
            self.disc.load_state_dict(ck["discriminator"])
            self.opt_d.load_state_dict(ck["optimizer_d"])
        elif self.args.adversarial:  # heads of another depth: the generator goes on, the heads start fresh
            print(f"discriminator heads of depth {self.disc.depth} start fresh", flush=True)
        self.ema = {k: v.clone() for k, v in ck.get("ema", trainable(self.net)).items()} if same_net else \
            {k: v.detach().clone() for k, v in trainable(self.net).items()}
        if "aug_rng" in ck:
            self.aug_gen.set_state(ck["aug_rng"])
        self.step, self.elapsed, self.history = ck["step"], ck["elapsed"], ck["history"]
        self.rng.setstate(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        for opt, lr in ((self.opt, self.args.lr), (self.opt_d, self.args.lr_d)):
            for group in opt.param_groups:  # the learning rate asked for now, not the saved one
                group["lr"] = lr
        print(f"resumed at step {self.step} ({self.elapsed / 60:.1f} min trained)", flush=True)

    def save(self, data: "Batches", started: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(self.path) as tmp:
            torch.save({"decoder": trainable(self.net), "ema": self.ema, "optimizer": self.opt.state_dict(),
                        "discriminator": self.disc.state_dict(), "optimizer_d": self.opt_d.state_dict(),
                        "step": self.step, "elapsed": self.elapsed + time.perf_counter() - started,
                        "history": self.history[-2000:], "rng": self.rng.getstate(), "torch_rng": torch.get_rng_state(),
                        "aug_rng": self.aug_gen.get_state(), "seed": self.args.seed, "size": self.args.size,
                        "batch": self.args.batch, "losses": self.loss_settings(),
                        "data": {"photos": len(data.photos), "textures": len(data.textures)}}, tmp)

    def loss_settings(self) -> dict:
        a = self.args
        return {"l1": 1.0, "perceptual": a.perceptual, "adversarial": a.adversarial,
                "feature_matching": a.feature_matching, "r1": a.r1, "ema": a.ema_decay,
                "discriminator_depth": a.disc_depth}

    def discriminator_step(self, real_feats, fake_feats, mask) -> float:
        """Real photos are real everywhere; a fill is fake inside the hole and real outside it."""
        real_feats = [f.detach().requires_grad_(self.args.r1 > 0 and self.step % 4 == 0) for f in real_feats]
        real_logits, _ = self.disc(real_feats)
        fake_logits, _ = self.disc([f.detach() for f in fake_feats])
        loss = 0.0
        for lr_, lf in zip(real_logits, fake_logits):
            # the hole and the known part weigh alike: a hole is a small share of the picture, and a
            # discriminator that mostly sees known cells learns to call everything real
            m = hole_at(mask, lf)
            fake_term = (m * F.softplus(lf)).sum() / (m.sum() + 1e-6)
            known_term = ((1 - m) * F.softplus(-lf)).sum() / ((1 - m).sum() + 1e-6)
            loss = loss + F.softplus(-lr_).mean() + fake_term + known_term
        if real_feats[0].requires_grad:  # lazy R1 (every 4th step, weighted x4)
            grads = torch.autograd.grad(sum(lg.sum() for lg in real_logits), real_feats, create_graph=True)
            loss = loss + 4 * self.args.r1 / 2 * sum(g.pow(2).flatten(1).sum(1).mean() for g in grads)
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        return loss.item()

    def generator_loss(self, out, truth, mask):
        a = self.args
        hole_l1 = (mask * (out - truth).abs()).sum() / (mask.sum() * 3 + 1)
        fake_img, real_img = augment([out, truth], self.aug_gen) if a.adversarial else (out, truth)
        feats_o, feats_t = self.features(fake_img), self.features(real_img)
        perc = sum(F.l1_loss(x, y) for x, y in zip(feats_o[:3], feats_t[:3])) / 3
        terms = {"hole_l1": hole_l1, "perceptual": perc}
        loss = hole_l1 + a.perceptual * perc
        if a.adversarial:
            fake_logits, fake_hidden = self.disc(feats_o[1:])
            with torch.no_grad():
                _, real_hidden = self.disc([f.detach() for f in feats_t[1:]])
            adv = sum((hole_at(mask, lf) * F.softplus(-lf)).sum() / (hole_at(mask, lf).sum() + 1e-6)
                      for lf in fake_logits) / len(fake_logits)
            fm = sum(F.l1_loss(x, y) for x, y in zip(fake_hidden, real_hidden)) / len(fake_hidden)
            loss = loss + a.adversarial * adv + a.feature_matching * fm
            terms |= {"adversarial": adv, "feature_matching": fm}
        return loss, terms, feats_o[1:], feats_t[1:]

    def train_step(self, truth, prior, mask) -> dict:
        out = self.net(prior, mask)
        loss, terms, fake_feats, real_feats = self.generator_loss(out, truth, mask)
        self.opt.zero_grad()
        self.disc.requires_grad_(False)
        loss.backward()
        self.disc.requires_grad_(True)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        if self.args.adversarial:
            terms["discriminator"] = self.discriminator_step(real_feats, fake_feats, mask)
        with torch.no_grad():
            for k, v in trainable(self.net).items():
                self.ema[k].mul_(self.args.ema_decay).add_(v.detach(), alpha=1 - self.args.ema_decay) \
                    if v.dtype.is_floating_point else self.ema[k].copy_(v)
        self.step += 1
        return {k: v.item() if torch.is_tensor(v) else v for k, v in terms.items()}


def train(args) -> None:
    torch.set_num_threads(args.threads)
    trainer = Trainer(args)
    if args.resume and trainer.path.exists():
        trainer.resume()
    data = Batches(list_photos([Path(p) for p in args.photos]), args.size, trainer.rng, args.texture_share)
    t0, first_step = time.perf_counter(), trainer.step
    deadline = t0 + args.minutes * 60 if args.minutes else None
    last_save = t0

    # Ctrl-C or `kill` ends the run after the current step, with a checkpoint: nothing is lost
    stop_requested = []
    previous = {sig: signal.signal(sig, lambda *_: stop_requested.append(True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while trainer.step < args.steps and (deadline is None or time.perf_counter() < deadline) and not stop_requested:
            truth, prior, mask = (t.to(trainer.device) for t in data.next(args.batch))
            terms = trainer.train_step(truth, prior, mask)
            trainer.history.append((trainer.step, terms["hole_l1"], terms["perceptual"],
                                    terms.get("adversarial", 0.0), terms.get("discriminator", 0.0)))
            if trainer.step % 20 == 0:
                recent = np.mean([tuple(h[1:5]) + (0.0,) * (5 - len(h)) for h in trainer.history[-20:]], axis=0)  # older runs logged 3
                print(f"step {trainer.step}: hole L1 {recent[0]:.4f}, perceptual {recent[1]:.3f}, "
                      f"adversarial {recent[2]:.3f}, discriminator {recent[3]:.3f}, "
                      f"{(time.perf_counter() - t0) / max(1, trainer.step - first_step):.2f}s/step", flush=True)
            if time.perf_counter() - last_save > args.save_minutes * 60:
                trainer.save(data, t0)
                last_save = time.perf_counter()
        trainer.save(data, t0)
    finally:  # the caller's handlers back, even when a step fails
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"stopped at step {trainer.step}; checkpoint {trainer.path}", flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--photos", nargs="+", default=[str(DATA)])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--minutes", type=float, default=0, help="stop after this long (0 = no limit)")
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-d", type=float, default=2e-4, help="the discriminator heads' learning rate")
    p.add_argument("--texture-share", type=float, default=0.3, help="share of crops taken from surface textures")
    p.add_argument("--perceptual", type=float, default=0.05)
    p.add_argument("--adversarial", type=float, default=0.0, help="weight of the adversarial loss (0 = off)")
    p.add_argument("--feature-matching", type=float, default=0.1)
    p.add_argument("--disc-depth", type=int, default=1, help="hidden conv layers per discriminator head")
    p.add_argument("--r1", type=float, default=0.01, help="R1 penalty on real features (lazy, every 4th step)")
    p.add_argument("--ema-decay", type=float, default=0.999, help="moving average of the weights that is exported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--checkpoint", default=str(CHECKPOINT))
    p.add_argument("--save-minutes", type=float, default=5)
    p.add_argument("--resume", action="store_true")
