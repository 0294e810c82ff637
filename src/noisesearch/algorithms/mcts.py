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
with the child of the best mean reward, and its subtree is kept for the next step.
Expanding a node at depth j costs steps - j - 1 NFEs (x0_hat at every state the new child
and its rollout pass), hence O(T^2) per trajectory. Defaults N = 4, S = 8. The result is
the committed trajectory; ``extra`` holds, at every step, the visit counts and mean rewards
of the root's children when the step is committed.

Deviation, with a budget (and ``s`` left unset): the paper fixes S per step, which makes
the spend unknown in advance (an expansion's cost depends on how deep the tree has grown;
the bound of ``plan`` puts every one at the root). Here each step gets a cumulative share
of the budget, split as a fixed-S search would spend it at most (the S that fits the
budget), and each problem keeps simulating while its ledger's NFEs plus the most one more
simulation can cost, steps - i - 2 at step i, fit in its share and leave the root
expansions of the later steps; the last step whose simulations cost NFEs takes all that
is left. Problems stay vectorised: those whose share is spent drop out of the round.
Selection then skips full subtrees (every node below expanded), so that every simulation
expands a node: a revisit of a clean leaf costs no NFE and a budget could not end them;
a problem whose whole tree is expanded stops (near the end, where the tree is small). The
spend never exceeds the budget; it falls short by what the last simulation could not fit
plus the root expansions reserved for later steps that their kept subtrees no longer need
(on digits at bench budgets the spend is reported per cell, docs/benchmarks.md). With ``s`` set, S is fixed as
in the paper and the budget only bounds ``plan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InputError
from ..lazy import torch
from .base import Plan, StepwiseSearch

if TYPE_CHECKING:
    from ..processes.base import DenoisingProcess
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
    full: bool = False  # every node below has all its children (only clean leaves are left)

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
    s: int | None = None  # simulations per step; None: S = 8 without a budget, the budget's share with one
    c: float = math.sqrt(2)  # UCB1 exploration constant

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1 or (self.s is not None and self.s < 0):
            raise InputError(f"mcts needs n >= 1 and s >= 0, got n={self.n}, s={self.s}")

    def fixed(self, budget: int | None) -> bool:
        """Whether S is fixed (the paper's), rather than following the budget."""
        return self.s is not None or budget is None

    def upper_bound(self, process: DenoisingProcess, s: int) -> int:
        """NFEs of a fixed-S search with every expansion at the root (the most it can spend)."""
        return (1 + sum((self.n + s) * (process.steps - i - 1) for i in range(process.steps))) \
            * process.nfe_per_step

    def step_costs(self, process: DenoisingProcess, s: int) -> list[int]:
        """The NFEs step i of a fixed-S search is planned to spend: its root's children, then S
        simulations below them (at most steps - i - 2 NFEs each; none where the step injects no
        noise), but at most half of what growing the step's whole tree would cost (near the
        end the tree is small, and the committed child's subtree is partly grown already)."""
        costs = []
        for i in range(process.steps):
            width = self.width(process, i)
            simulations = s if width > 1 else 0
            cost = width * (process.steps - i - 1) + simulations * max(process.steps - i - 2, 0)
            costs.append(min(cost, max(self.tree_cost(process, i) // 2, width * (process.steps - i - 1)))
                         * process.nfe_per_step)
        return costs

    def tree_cost(self, process: DenoisingProcess, i: int) -> int:
        """NFEs (per step's NFE) of expanding every node below a root at depth ``i``: a node at
        depth d costs steps - d."""
        total, nodes = 0, 1
        for depth in range(i + 1, process.steps + 1):
            nodes *= self.width(process, depth - 1)
            total += nodes * (process.steps - depth)
            if total > 1 << 40:  # far beyond any budget
                break
        return total

    def plan(self, process, budget):
        if self.fixed(budget):
            s = 8 if self.s is None else self.s
            return self.within(Plan(s, self.upper_bound(process, s)), budget)
        least = process.nfe_per_step + sum(self.step_costs(process, 0))
        if least > budget:
            raise InputError(f"mcts spends at least {least} NFEs per condition (the root's {self.n} children "
                             f"at every step), more than the budget of {budget}; valid: a budget >= {least}")
        lo, hi = 0, budget  # the largest S whose planned spend fits the budget: the plan's size
        while lo < hi:  # the planned spend does not decrease with S
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if process.nfe_per_step + sum(self.step_costs(process, mid)) <= budget \
                else (lo, mid - 1)
        return Plan(lo, budget)

    def shares(self, process: DenoisingProcess, plan: Plan) -> list[int]:
        """Per step, the NFEs per problem the search may have spent when the step ends: the budget
        split as the plan's steps are planned to spend it, never into what the later steps' root
        expansions need; the last step whose simulations cost NFEs gets all that is left."""
        costs, first = self.step_costs(process, plan.size), process.nfe_per_step
        roots = [self.width(process, i) * (process.steps - i - 1) * process.nfe_per_step
                 for i in range(process.steps)]
        costly = [i for i in range(process.steps) if self.width(process, i) > 1 and process.steps - i - 2 > 0]
        shares, spent = [], 0
        for i in range(process.steps):
            spent += costs[i]
            share = first + (plan.nfe - first) * spent // max(sum(costs), 1)
            if costly and i == costly[-1]:
                share = plan.nfe
            shares.append(min(share, plan.nfe - sum(roots[i + 1:])))
        return shares

    def search(self, ctx: SearchContext, plan: Plan) -> dict[str, torch.Tensor]:
        process, n_problems = ctx.process, ctx.n_problems
        x, x0, eps, problems = ctx.start(1)
        x_T = x.clone()
        roots = [Node(0, x[p], x0[p], eps[p]) for p in range(n_problems)]
        created = [0] * n_problems  # per-problem node counter: keys the noises
        steps = torch.zeros((n_problems, process.steps, *process.noise_shape), dtype=process.dtype)
        shares = None if self.fixed(ctx.budget) else self.shares(process, plan)
        visits = torch.zeros((n_problems, process.steps, self.n), dtype=torch.long)  # the root's children
        means = torch.full((n_problems, process.steps, self.n), float("nan"), dtype=torch.float64)
        for i in range(process.steps):
            width = self.width(process, i)
            for _ in range(width):  # the root's children (one where the step injects no noise)
                self.expand(ctx, [(p, r) for p, r in enumerate(roots) if len(r.children) < width], created)
            if width > 1 and shares is None:
                for _ in range(plan.size):
                    self.expand(ctx, [(p, self.select(r, process)) for p, r in enumerate(roots)], created)
            elif width > 1:  # simulate while one more fits in the problem's share
                worst = max(process.steps - i - 2, 0) * process.nfe_per_step
                active = list(range(n_problems))
                while active := [p for p in active
                                 if not roots[p].full and int(ctx.ledger.nfe[p]) + worst <= shares[i]]:
                    self.expand(ctx, [(p, self.select(roots[p], process, open_only=True)) for p in active],
                                created)
            for p, root in enumerate(roots):
                visits[p, i, :len(root.children)] = torch.tensor([c.visits for c in root.children])
                means[p, i, :len(root.children)] = torch.tensor([c.mean() for c in root.children],
                                                                dtype=torch.float64)
                child = max(root.children, key=Node.mean)  # first of equal means
                steps[p, i] = child.noise
                child.parent, roots[p] = None, child
        ctx.finish(torch.stack([r.x for r in roots]), x_T, steps, problems)
        return {"visits": visits, "means": means}

    def width(self, process: DenoisingProcess, depth: int) -> int:
        """Children a node at ``depth`` can have: N, or 1 where the step injects no noise."""
        return self.n if process.injects_noise(depth) else 1

    def select(self, node: Node, process: DenoisingProcess, open_only: bool = False) -> Node:
        """Descend by UCB1 to a node that can take another child (or a clean leaf); with
        ``open_only``, among the children that are not ``full``, so that every simulation
        expands a node (a revisit of a clean leaf costs no NFE, and a budget could not end them)."""
        while node.depth < process.steps and len(node.children) >= self.width(process, node.depth):
            children = [c for c in node.children if not c.full] if open_only else node.children
            node = max(children, key=lambda child: child.ucb(self.c))
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
                self.settle(child, process)
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
        _, scores = ctx.score(x, rows, lookahead=True)
        return [float(s) for s in scores]

    def settle(self, node: Node, process: DenoisingProcess) -> None:
        """Mark ``node`` (a new child) and its ancestors ``full`` where all below them is expanded."""
        while node is not None and (node.depth == process.steps or (len(node.children) >= self.width(
                process, node.depth) and all(c.full for c in node.children))):
            node.full = True
            node = node.parent

    @staticmethod
    def backup(node: Node, reward: float) -> None:
        while node is not None:
            node.visits += 1
            node.value += reward
            node = node.parent

