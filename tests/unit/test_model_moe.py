"""DeepSeekMoE: gate semantics (the bias selects, never weights), gradients reach every selected
expert, the γ·sign bias update, the sequence-wise balance loss, and a real training run on a
skewed token stream where bias balancing lowers max/mean expert load versus γ = 0.

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_model_moe.py
"""

import pytest
import torch

from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.model.moe import MoE, load_balance
from cloud_brain.model.train import make_optimizer, skewed_token_stream, train_step


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_gate_bias_selects_but_does_not_weight():
    args = ModelArgs.tiny(n_routed_experts=6, n_activated_experts=2, route_scale=1.0)
    moe = MoE(args)
    x = torch.randn(50, args.dim)
    w0, idx0, scores = moe.gate(x)
    torch.testing.assert_close(w0.sum(-1), torch.ones(50))
    torch.testing.assert_close(w0, scores.gather(1, idx0) / scores.gather(1, idx0).sum(-1, keepdim=True))
    moe.gate.bias[3] = 10.0  # force expert 3 into every token's top-k
    w1, idx1, _ = moe.gate(x)
    assert (idx1 == 3).any(-1).all()
    # weights are still the normalised affinities of the selected experts, bias-free
    torch.testing.assert_close(w1, scores.gather(1, idx1) / scores.gather(1, idx1).sum(-1, keepdim=True))


def test_every_selected_expert_receives_gradient():
    args = ModelArgs.tiny(n_routed_experts=8, n_activated_experts=2)
    moe = MoE(args)
    moe.gate.bias.copy_(torch.tensor([0, 0, 0, 0, 0, 0, -5.0, -5.0]))  # experts 6, 7 never chosen
    x = torch.randn(2, 40, args.dim, requires_grad=True)
    moe(x).pow(2).sum().backward()
    load = moe.last_load.tolist()
    assert load[6] == load[7] == 0 and sum(load) == 2 * 40 * 2
    for i, expert in enumerate(moe.experts):
        for p in expert.parameters():
            if load[i] > 0:
                assert p.grad is not None and p.grad.abs().sum() > 0, f"expert {i}"
            else:
                assert p.grad is None or p.grad.abs().sum() == 0
    assert moe.gate.weight.grad.abs().sum() > 0  # the router learns through the weights
    assert all(p.grad.abs().sum() > 0 for p in moe.shared_experts.parameters())


def test_bias_update_follows_sign_of_load_error():
    args = ModelArgs.tiny(n_routed_experts=4)
    moe = MoE(args).train()
    moe.step_load.copy_(torch.tensor([10, 2, 4, 4]))  # mean 5
    load = moe.update_bias(0.01)
    assert load.tolist() == [10, 2, 4, 4]
    torch.testing.assert_close(moe.gate.bias, torch.tensor([-0.01, 0.01, 0.01, 0.01]))
    assert moe.step_load.sum() == 0
    moe.update_bias(0.01)  # no tokens routed since: no change
    torch.testing.assert_close(moe.gate.bias, torch.tensor([-0.01, 0.01, 0.01, 0.01]))


def test_sequence_balance_loss_is_minimal_when_balanced():
    args = ModelArgs.tiny(n_routed_experts=4, n_activated_experts=1, seq_aux_alpha=1.0)
    moe = MoE(args).train()
    spread = torch.arange(8).remainder(4).view(1, 8, 1)  # token t -> expert t mod 4
    scores = torch.full((1, 8, 4), 0.1).scatter(2, spread, 0.9)
    balanced = moe._sequence_balance_loss(scores, spread)  # f_i = 1, P_i = 1/4
    one = torch.zeros(1, 8, 1, dtype=torch.long)
    skewed = moe._sequence_balance_loss(torch.full((1, 8, 4), 0.1).scatter(2, one, 0.9), one)
    assert float(balanced) == pytest.approx(1.0)
    assert float(skewed) == pytest.approx(4 * 0.9 / 1.2)  # f_0 = 4, P_0 = 0.75


def _run(gamma: float, steps: int = 40, seed: int = 0) -> tuple[float, list[float], Transformer]:
    torch.manual_seed(seed)
    args = ModelArgs.tiny(mtp_depth=0, n_layers=2, n_dense_layers=0, n_routed_experts=8,
                          n_activated_experts=2, seq_aux_alpha=0.0, swa_ratio=0)
    model = Transformer(args)
    opt = make_optimizer(model, lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        if step == steps // 2:
            model.reset_load_stats()  # measure the second half of the run
        stats = train_step(model, opt, skewed_token_stream(args.vocab_size, 8, 24, generator=gen), gamma=gamma)
        losses.append(stats["main"])
    imbalance = [load_balance(m.total_load)["max_over_mean"] for m in model.moe_layers()]
    return sum(imbalance) / len(imbalance), losses, model


def test_bias_balancing_lowers_expert_load_imbalance_in_training():
    free, losses_free, _ = _run(gamma=0.0)
    balanced, losses_bal, model = _run(gamma=0.01)
    # measured: gamma 0 -> max/mean ~3.5 over the second half; gamma 0.01 -> ~1.5
    assert balanced < 0.6 * free, (balanced, free)
    assert balanced < 2.0
    assert losses_bal[-1] < losses_bal[0]  # it is a real training run: the loss goes down
    stats = model.expert_load("total")
    assert len(stats["layers"]) == 2 and stats["layers"][0]["max_over_mean"] == pytest.approx(
        load_balance(model.moe_layers()[0].total_load)["max_over_mean"])
    assert any(abs(b) > 0 for b in stats["layers"][0]["bias"])
