#!/usr/bin/env bash
# The main job on the embedded default (a local git repository, no server):
# make a project repository, train three times (once with an uncommitted
# change), then look at the runs with gittrack's CLI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$(mktemp -d)/demo-project}"
mkdir -p "$dir"
cd "$dir"
git init -q -b main 2>/dev/null || git init -q
git config user.name >/dev/null || git config user.name "gittrack demo"
git config user.email >/dev/null || git config user.email "demo@example.invalid"
cp "$here/train.py" train.py
git add train.py
git commit -q -m "Add the training script" || true

python3 train.py --lr 0.05
python3 train.py --lr 0.5
sed -i 's/default=30/default=40/' train.py   # an uncommitted change: the run records it
python3 train.py --lr 0.5 --l2 0.01

echo; echo "== gittrack log"; python3 -m gittrack log
runs=($(python3 -m gittrack log --format csv | tail -n +2 | cut -d, -f1))
echo; echo "== gittrack show ${runs[0]:0:8}"; python3 -m gittrack show "${runs[0]}"
echo; echo "== gittrack diff --code"; python3 -m gittrack diff "${runs[1]}" "${runs[0]}" --code
echo; echo "== plain git sees the runs"; git for-each-ref refs/gittrack/ | head -5
echo; echo "Project with its runs: $dir"
