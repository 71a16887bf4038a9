"""Ctrl-C during fit: a SIGINT sent to a child process training stops fit between batches with
KeyboardInterrupt, and the model trained so far is kept and predicts."""

import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    from mlprs import MLPClassifier
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 20)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    clf = MLPClassifier((256, 256), batch_size=32, max_iter=10000, tol=0, n_iter_no_change=10000, random_state=0, verbose=True)
    try:
        clf.fit(x, y)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", clf.n_iter_, clf.score(x, y), flush=True)
    """
)


def test_sigint_stops_fit_and_keeps_the_model():
    child = subprocess.Popen([sys.executable, "-u", "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait for the first epoch's line: training is under way.
    line = child.stdout.readline()
    assert line.startswith("Iteration 1"), line + child.stderr.read()
    time.sleep(0.3)
    started = time.perf_counter()
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=60)
    took = time.perf_counter() - started
    last = out.strip().splitlines()[-1]
    assert last.startswith("interrupted"), out + err
    _, n_iter, score = last.split()
    assert int(n_iter) >= 1 and float(score) > 0.9, last
    # Between batches, not at the end of an epoch of 625 batches.
    assert took < 5, f"fit took {took:.1f} s to stop"
