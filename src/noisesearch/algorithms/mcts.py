"""Monte Carlo tree search over the step noises (Ramesh & Mardani 2025, Sec. 4.1).

Sampling is an MDP whose actions are the injected noises and whose reward r(x_0) comes at
the end. At each step the root (the committed state x_i) has N children, each a noise
drawn for that step; S simulations then each

    select:    descend from the root by UCB1, w / n + c sqrt(ln n_parent / n), c = sqrt(2),
               while the node has all its N children (one child where the step injects no
               noise, as DDIM's last step: its children would all be the same state);
    expand:    add one child (a fresh noise) to the node reached;
    roll out:  from the child to the clean sample with the process's noise-free update
               (DDIM, eta = 0), and score it with the verifier;
    back up:   add the reward to the visit counts and value sums up to the root.

The root's N children are first expanded and rolled out once each. The step is committed
with the child of the best mean reward, and its subtree is kept for the next step. Each
rollout from depth j costs steps - j NFEs (x0_hat at every state it passes), hence
O(T^2) per trajectory. Defaults N = 4, S = 8. The result is the committed trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..errors import InputError
from ..processes.base import DenoisingProcess
from .base import Plan, StepwiseSearch
from .context import SearchContext


@dataclass(eq=False)
class Node:
    """A state in one problem's tree: its index, prediction, the noise that led to it, statistics."""

    depth: int
    x: torch.Tensor
    x0: torch.Tensor
    eps: torch.Tensor
    noise: torch.Tensor | None = None
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None
    visits: int = 0
    value: float = 0.0

    def mean(self) -> float:
        return self.value / self.visits if self.visits else -math.inf

    def ucb(self, c: float) -> float:
        return self.mean() + c * math.sqrt(math.log(self.parent.visits) / self.visits)


@dataclass
class MCTS(StepwiseSearch):
    """UCB1 tree search with noise-free rollouts; commits the child with the best mean reward."""

    name = "mcts"
    summary = "Monte Carlo tree search over the step noises, UCB1 and ODE rollouts (Ramesh & Mardani 2025)"
    n: int = 4  # children per node
    s: int = 8  # simulations per step
    c: float = math.sqrt(2)  # UCB1 exploration constant
    scaled = ("s", 0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1 or self.s < 0:
            raise InputError(f"mcts needs n >= 1 and s >= 0, got n={self.n}, s={self.s}")

    def plan(self, process, budget):
        # an upper bound: every expansion at the deepest level the step allows
        nfe = (1 + sum((self.n + self.s) * (process.steps - i - 1) for i in range(process.steps))) \
            * process.nfe_per_step
        return self.within(Plan(self.s, nfe), budget)

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        process, n_problems = ctx.process, ctx.n_problems
        x, x0, eps, problems = ctx.start(1)
        x_T = x.clone()
        roots = [Node(0, x[p], x0[p], eps[p]) for p in range(n_problems)]
        created = [0] * n_problems  # per-problem node counter: keys the noises
        steps = torch.zeros((n_problems, process.steps, *process.noise_shape), dtype=process.dtype)
        for i in range(process.steps):
            width = self.width(process, i)
            for _ in range(width):  # the root's children (one where the step injects no noise)
                self.expand(ctx, [(p, r) for p, r in enumerate(roots) if len(r.children) < width], created)
            if width > 1:
                for _ in range(self.s):
                    self.expand(ctx, [(p, self.select(r, process)) for p, r in enumerate(roots)], created)
            for p, root in enumerate(roots):
                child = max(root.children, key=Node.mean)  # first of equal means
                steps[p, i] = child.noise
                child.parent, roots[p] = None, child
        ctx.finish(torch.stack([r.x for r in roots]), x_T, steps, problems)

    def width(self, process: DenoisingProcess, depth: int) -> int:
        """Children a node at ``depth`` can have: N, or 1 where the step injects no noise."""
        return self.n if process.injects_noise(depth) else 1

    def select(self, node: Node, process: DenoisingProcess) -> Node:
        """Descend by UCB1 to a node that can take another child (or a clean leaf)."""
        while node.depth < process.steps and len(node.children) >= self.width(process, node.depth):
            node = max(node.children, key=lambda child: child.ucb(self.c))
        return node

    def expand(self, ctx: SearchContext, targets: list[tuple[int, Node]], created: list[int]) -> None:
        """Add a child to each target node, roll every child out and back up its reward."""
        process = ctx.process
        leaves = [(p, node) for p, node in targets if node.depth == process.steps]
        for _, node in leaves:  # a clean leaf: its reward is known, count one more visit
            self.backup(node, node.value / max(node.visits, 1))
        targets = [(p, node) for p, node in targets if node.depth < process.steps]
        if not targets:
            return
        by_depth: dict[int, list[tuple[int, Node]]] = {}
        for p, node in targets:
            by_depth.setdefault(node.depth, []).append((p, node))
        children: list[tuple[int, Node]] = []
        for depth, group in sorted(by_depth.items()):
            draws = []
            for p, _ in group:
                draws.append((p, ("mcts", created[p])))
                created[p] += 1
            z = ctx.noise.steps(draws)
            rows = torch.tensor([p for p, _ in group])
            x = torch.stack([node.x for _, node in group])
            x_next = process.update(x, depth, torch.stack([node.x0 for _, node in group]),
                                    torch.stack([node.eps for _, node in group]), z)
            x0, eps = ctx.predict(x_next, depth + 1, rows)
            for j, (p, node) in enumerate(group):
                child = Node(depth + 1, x_next[j], x0[j], eps[j], z[j], parent=node)
                node.children.append(child)
                children.append((p, child))
        rewards = self.rollout(ctx, children)
        for (_, child), reward in zip(children, rewards, strict=True):
            self.backup(child, reward)

    def rollout(self, ctx: SearchContext, children: list[tuple[int, Node]]) -> list[float]:
        """Noise-free updates from each child to the clean sample, then the verifier's rewards."""
        process = ctx.process
        rows = torch.tensor([p for p, _ in children])
        depth = torch.tensor([c.depth for _, c in children])
        x = torch.stack([c.x for _, c in children])
        x0 = torch.stack([c.x0 for _, c in children])
        eps = torch.stack([c.eps for _, c in children])
        for i in range(int(depth.min()), process.steps):
            active = depth <= i  # rows whose rollout has reached state i
            moved = process.update(x[active], i, x0[active], eps[active], deterministic=True)
            x[active] = moved
            if i + 1 < process.steps:
                x0[active], eps[active] = ctx.predict(moved, i + 1, rows[active])
        _, scores = ctx.score(x, rows)
        return [float(s) for s in scores]

    @staticmethod
    def backup(node: Node, reward: float) -> None:
        while node is not None:
            node.visits += 1
            node.value += reward
            node = node.parent

