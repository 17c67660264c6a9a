"""A small training script, written as an MLflow user would write it.

Fits a logistic regression by gradient descent on synthetic data (standard
library only) and logs params, per-epoch metrics and tags with gittrack.

    python train.py --lr 0.1 --epochs 30
"""

from __future__ import annotations

import argparse
import math
import random

import gittrack as mlflow


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    rng = random.Random(seed)
    w_true = [1.5, -2.0, 0.7]
    data = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in w_true]
        p = 1 / (1 + math.exp(-sum(a * b for a, b in zip(w_true, x))))
        data.append((x, 1 if rng.random() < p else 0))
    return data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--l2", type=float, default=0.0)
    args = ap.parse_args()

    data = make_data(500, seed=0)
    train, valid = data[:400], data[400:]
    w = [0.0, 0.0, 0.0]
    mlflow.set_experiment("logistic-regression")
    with mlflow.start_run(run_name=f"lr={args.lr}") as run:
        mlflow.log_params({"optimizer": {"name": "sgd", "lr": args.lr, "l2": args.l2},
                           "epochs": args.epochs})
        mlflow.set_tag("dataset", "synthetic-500")
        for epoch in range(args.epochs):
            grad = [0.0, 0.0, 0.0]
            loss = 0.0
            for x, y in train:
                p = 1 / (1 + math.exp(-sum(a * b for a, b in zip(w, x))))
                loss -= math.log(p if y else 1 - p)
                for j in range(3):
                    grad[j] += (p - y) * x[j]
            w = [wj - args.lr * (g / len(train) + args.l2 * wj) for wj, g in zip(w, grad)]
            acc = sum(
                (1 / (1 + math.exp(-sum(a * b for a, b in zip(w, x)))) > 0.5) == bool(y)
                for x, y in valid
            ) / len(valid)
            mlflow.log_metrics({"train_loss": loss / len(train), "val_acc": acc}, step=epoch)
        print(f"run {run.info.run_id[:8]}: val_acc={acc:.3f}")


if __name__ == "__main__":
    main()
