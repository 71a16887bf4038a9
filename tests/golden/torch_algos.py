"""Golden values for tests/algos.rs from PyTorch (float64): dropout and BatchNorm1d training steps,
NAdam / Adamax / Rprop / LBFGS (with and without strong-Wolfe) steps, and the new losses' values.

Run: /work/bench-venv/bin/python tests/golden/torch_algos.py > tests/golden/torch_algos.json

Weights are given in mlp's layout: a dense layer's weight is (fan_in, units) row-major, i.e. the
transpose of torch's Linear.weight; flat parameter vectors list, per layer, weight then bias (and
batchnorm's weight, bias, running_mean, running_var), as mlp stores them.
"""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(15)


def arr(shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).round(6)


def linear(fan_in, units):
    w, b = arr((fan_in, units), 0.6), arr((units,), 0.1)
    lin = nn.Linear(fan_in, units)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w.T))
        lin.bias.copy_(torch.tensor(b))
    return lin


def flat(modules):
    """Parameters in mlp's storage order."""
    out = []
    for m in modules:
        if isinstance(m, nn.Linear):
            out += m.weight.detach().T.reshape(-1).tolist() + m.bias.detach().tolist()
        elif isinstance(m, nn.BatchNorm1d):
            out += m.weight.detach().tolist() + m.bias.detach().tolist()
            out += m.running_mean.tolist() + m.running_var.tolist()
    return out


def cce(logits, onehot):
    return -(onehot * F.log_softmax(logits, dim=1)).sum(1).mean()


X = arr((12, 4))
LABELS = rng.integers(0, 3, 12)
T = np.eye(3)[LABELS]
x, t = torch.tensor(X), torch.tensor(T)
out = {"x": X.tolist(), "t": T.tolist()}

# --- dropout: 4 -> 6 tanh -> dropout(0.3) -> 3 softmax, one SGD step (lr 0.5) --------------------
l1, l2 = linear(4, 6), linear(6, 3)
start = flat([l1, l2])
drop = nn.Dropout(0.3)
drop.train()
torch.manual_seed(3)
h = torch.tanh(l1(x))
hd = drop(h)
keep = (hd != 0).tolist()
loss = cce(l2(hd), t)
loss.backward()
with torch.no_grad():
    for p in [*l1.parameters(), *l2.parameters()]:
        p -= 0.5 * p.grad
out["dropout"] = {"rate": 0.3, "lr": 0.5, "start": start, "keep": keep, "loss": loss.item(), "after": flat([l1, l2])}

# --- BatchNorm1d: 4 -> 6 linear -> batchnorm, tanh -> 3 softmax ------------------------------------
l1, l2 = linear(4, 6), linear(6, 3)
bn = nn.BatchNorm1d(6)  # momentum 0.1, eps 1e-5, affine, running stats
with torch.no_grad():
    bn.weight.copy_(torch.tensor(1.0 + arr((6,), 0.2)))
    bn.bias.copy_(torch.tensor(arr((6,), 0.2)))
start = flat([l1, bn, l2])
mods = [l1, bn, l2]
def bn_net(inp):
    return l2(torch.tanh(bn(l1(inp))))
bn.train()
logits = bn_net(x)  # one train-mode forward: the running statistics move once
train_out = F.softmax(logits, dim=1)
loss = cce(logits, t)
loss.backward()
with torch.no_grad():
    for p in [*l1.parameters(), *bn.parameters(), *l2.parameters()]:
        p -= 0.5 * p.grad
bn.eval()
with torch.no_grad():
    eval_out = F.softmax(bn_net(x), dim=1)
out["batchnorm"] = {
    "lr": 0.5,
    "start": start,
    "train_output": train_out.detach().tolist(),
    "loss": loss.item(),
    "after": flat(mods),
    "eval_output": eval_out.tolist(),
}

# --- per-element optimizers on the quadratic of tests/fixtures/optim_golden.py --------------------
P0, C, D = [0.5, -1.0, 2.0, 0.0], [1.0, 3.0, 0.5, 2.0], [0.1, -0.2, 0.3, 0.05]
CASES = {
    "nadam": (torch.optim.NAdam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-7, momentum_decay=0.004)),
    "nadam_wd": (torch.optim.NAdam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-7, momentum_decay=0.01, weight_decay=0.1)),
    "adamax": (torch.optim.Adamax, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-7)),
    "adamax_wd": (torch.optim.Adamax, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.1)),
    "rprop": (torch.optim.Rprop, dict(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50))),
    "rprop_tight": (torch.optim.Rprop, dict(lr=0.3, etas=(0.3, 1.5), step_sizes=(0.05, 0.5))),
}
steps = {}
for name, (cls, kw) in CASES.items():
    p = torch.tensor(P0, requires_grad=True)
    opt = cls([p], **kw)
    c, d = torch.tensor(C), torch.tensor(D)
    traj = []
    for _ in range(8):
        opt.zero_grad()
        (c * p * p / 2 + d * p).sum().backward()
        opt.step()
        traj.append(p.detach().tolist())
    steps[name] = {"hyper": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}, "trajectory": traj}
out["optim"] = {"p0": P0, "c": C, "d": D, "steps": steps}

# --- LBFGS on a 4 -> 5 tanh -> 3 softmax net, full batch ------------------------------------------
lb = {}
base = [linear(4, 5), linear(5, 3)]
for case, kw in {
    "plain": dict(lr=0.5, max_iter=4, history_size=3),
    "strong_wolfe": dict(lr=1.0, max_iter=4, history_size=3, line_search_fn="strong_wolfe"),
}.items():
    a, b = linear(4, 5), linear(5, 3)
    with torch.no_grad():
        for m, src in zip([a, b], base):
            m.weight.copy_(src.weight); m.bias.copy_(src.bias)
    start = flat([a, b])
    opt = torch.optim.LBFGS([*a.parameters(), *b.parameters()], **kw)
    def closure():
        opt.zero_grad()
        loss = cce(b(torch.tanh(a(x))), t)
        loss.backward()
        return loss
    traj, losses = [], []
    for _ in range(4):
        losses.append(opt.step(closure).item())
        traj.append(flat([a, b]))
    lb[case] = {"hyper": {k: v for k, v in kw.items()}, "start": start, "trajectory": traj, "losses": losses}
out["lbfgs"] = lb

# --- losses ----------------------------------------------------------------------------------------
A = arr((5, 3))
Y = arr((5, 3))
PM = np.sign(arr((5, 3)))
PM[PM == 0] = 1
prob_a = F.softmax(torch.tensor(arr((5, 3))), dim=1)
prob_t = F.softmax(torch.tensor(arr((5, 3))), dim=1)
rate = torch.tensor(np.abs(arr((5, 3))) + 0.1)
counts = torch.tensor(rng.integers(0, 5, (5, 3)).astype(float))
a_t, y_t, pm = torch.tensor(A), torch.tensor(Y), torch.tensor(PM)
losses = {
    "huber": {"a": A.tolist(), "t": Y.tolist(), "value": nn.HuberLoss(delta=1.0)(a_t, y_t).item()},
    "huber(0.5)": {"a": A.tolist(), "t": Y.tolist(), "value": nn.HuberLoss(delta=0.5)(a_t, y_t).item()},
    "log_cosh": {"a": A.tolist(), "t": Y.tolist(), "value": torch.log(torch.cosh(a_t - y_t)).mean().item()},
    "hinge": {"a": A.tolist(), "t": PM.tolist(), "value": torch.clamp(1 - pm * a_t, min=0).mean().item()},
    "squared_hinge": {"a": A.tolist(), "t": PM.tolist(), "value": (torch.clamp(1 - pm * a_t, min=0) ** 2).mean().item()},
    "kl_divergence": {
        "a": prob_a.tolist(),
        "t": prob_t.tolist(),
        "value": nn.KLDivLoss(reduction="batchmean")(torch.log(prob_a), prob_t).item(),
    },
    "poisson": {
        "a": rate.tolist(),
        "t": counts.tolist(),
        "value": nn.PoissonNLLLoss(log_input=False, full=False, eps=1e-8)(rate, counts).item(),
    },
}
out["losses"] = losses
out["torch_version"] = torch.__version__
print(json.dumps(out, indent=1))
