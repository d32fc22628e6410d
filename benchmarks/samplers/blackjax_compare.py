#!/usr/bin/env python3
"""Runs BlackJAX on the analytic targets and settings of ebm's bench_samplers and compares ESS per second and ESS per
gradient: ratio = ebm / BlackJAX.

  python benchmarks/samplers/blackjax_compare.py --ebm DIR --output DIR [--replicates 3] [--seed 20240611]
                                                 [--threads N]

Usually run through scripts/compare_blackjax.sh, which installs the pinned packages of
benchmarks/samplers/requirements-blackjax.txt into build/venv-blackjax.

Input (written by bench_samplers into --ebm DIR)
  runs.json           {"threads": N, "runs": [{"target", "sampler", "epsilon", "leapfrog", "chains", "warmup",
                      "draws", "thin", "init"}, ...]}
  init_<target>.npy   float32 [chains, dimension]: the initial states of every sampler on that target
  results.csv         ebm's numbers, one row per run (columns as in blackjax.csv below)

Output (into --output DIR)
  blackjax.csv        the same columns as ebm's results.csv, device "jax-cpu", from replicate 0 (the timed run)
  blackjax_replicates.csv  ESS, R-hat, acceptance, biases and compile times of every replicate
  comparison.md       the tables below (also printed to stdout)

Targets (log density = -U, float32): gauss2, gauss100 (zero-mean Gaussian, precision Q diag(1/lambda) Q^T with
lambda_i = 100^(i/(d-1)) and Q the orthonormal DCT-II matrix), funnel10 (Neal's funnel), banana2, gmm (8 Gaussians
on the unit circle, sd 0.15). Any other target (mlp, convnet, ...) is skipped with a note.

Samplers, mapped onto BlackJAX 1.7.1 (parameterisations checked in its source, see the comments at make_sampler):
  ula         blackjax.sgld with the full gradient, temperature 1, step_size h = eps^2/2
  mala        blackjax.mala, step_size h = eps^2/2
  mala_adapt  as mala at ebm's adapted eps (BlackJAX uses that fixed eps for warm-up and draws)
  hmc5/hmc20  blackjax.hmc, step_size = eps, inverse_mass_matrix = ones(d), num_integration_steps = L

Protocol per run (as ebm's): every chain runs `warmup` steps (not recorded, not timed), then draws*thin steps
recording every thin-th state. The chains are vmapped, the steps are lax.scan (outer scan over draws, inner scan
over thin steps), warm-up and recorded phase are separate jitted functions, compiled ahead of time (the compile
seconds are reported separately). Replicate 0: warm-up, one untimed call of the recorded phase (key A), then
--timing-repeats (default 3) timed calls of the recorded phase from the same post-warm-up states with other keys
(B1, B2, ...): `seconds` is the shortest of their wall times (on a shared 2-core machine single calls vary by up
to 2x; ebm's bench_samplers also reports its fastest timed run), the statistics come from the first (B1). Replicates 1..R-1: fresh warm-up and recorded phase from the same
initial states with other keys (used only for the noise interval below). All keys derive from the printed --seed
and the run's index. blackjax_replicates.csv also gives the process CPU time of the timed call (CPU/wall > 1 means
XLA ran the step on several threads).

Statistics (the same definitions as ebm's results.csv)
  steps = draws*thin (per chain), steps_per_s = steps/seconds, gradients_per_s = steps_per_s * g with g = 1 for
  ULA and MALA and g = L for HMC (velocity Verlet reuses the gradient at the start of the trajectory, so one
  gradient per leapfrog step, as in BlackJAX's code).
  ess_bulk_min / ess_tail_min = min over coordinates of az.ess(method="bulk"/"tail") over (chain, draw);
  rhat_max = max over coordinates of az.rhat(method="rank").
  ess_*_per_s = ess_*_min / seconds.
  ess_*_per_1000_gradients = 1000 * ess_*_min / (chains * draws * thin * g): ESS per 1000 gradient evaluations
  summed over all chains. For the ratio, ebm's value is recomputed with this definition from its ess_*_min and
  its chains/draws/thin (a note is printed where ebm's own column uses another convention).
  acceptance = mean over chains and all recorded-phase steps of BlackJAX's info.acceptance_rate, which is the
  MH acceptance probability min(1, exp(log alpha)) (an unbiased estimate of the same expectation as the fraction
  of accepted proposals); empty for ULA (no accept step).
  mean_bias_max = max over coordinates i of |mean_i - mu_i| / sigma_i, and
  variance_bias_max = max over coordinates i of |var_i - sigma_i^2| / sigma_i^2, where mean_i and var_i are the
  mean and the variance (1/n normalisation) of coordinate i over all n = chains*draws recorded draws, and mu_i,
  sigma_i^2 the target's true mean and variance (empty where unknown).

"Statistically equal ESS per gradient" (column "flag" in comparison.md)
  An ESS estimate is itself a random variable (the min over coordinates of an autocorrelation-based estimate)
  whose spread has no simple closed form, so it is measured: BlackJAX is run R times (--replicates, default 3)
  with independent keys from the same initial states, giving y_r = log(ESS per 1000 gradients) for r = 1..R,
  mean m and sample standard deviation s. If ebm implements the same Markov chain with the same settings, its
  value y_ebm = log(ebm ESS per 1000 gradients) is one more independent draw from the same distribution, so with
  log ESS approximately normal, (y_ebm - m) / (s * sqrt(1 + 1/R)) follows Student's t with R-1 degrees of
  freedom (a prediction interval: the mean is independent of s). The rule:
      flag "OUT" when |y_ebm - m| > t_{0.975, R-1} * s * sqrt(1 + 1/R), i.e. when the ratio
      ebm / geometric-mean(BlackJAX replicates) lies outside [exp(-h), exp(h)], h = t_{0.975,R-1} s sqrt(1+1/R);
      otherwise "ok" (bulk and tail are tested separately; "OUT" in either sets the flag).
  This is a two-sided 5% test per (target, sampler) and per ESS kind, so with many rows an occasional "OUT" is
  expected by chance. With R = 3, t = 4.30, so the interval is wide; more replicates (--replicates 5: t = 2.78)
  narrow it. It covers the noise of the ESS estimate only: a systematic difference (e.g. ebm's warm-up adapting
  the step for mala_adapt, or a different ESS implementation) shows up as "OUT", as it should.
  The ratio column of ESS per 1000 gradients in comparison.md is ebm / geometric mean of the R BlackJAX replicates;
  ESS per second uses the timed replicate 0 only (the same number as blackjax.csv).

Threads: XLA's CPU client sizes its thread pools from the CPUs this process may run on, so before importing jax the
process's CPU affinity is restricted to --threads CPUs (default: runs.json's "threads", capped at the CPUs
available); the script prints the CPUs it uses. Checked with jax/jaxlib 0.10.2 on a 2-core machine: a 3000x3000
matmul runs at CPU/wall 1.9 with 2 CPUs and 1.0 with 1 CPU (the affinity does set XLA's pool), but the sampler
scans (vmapped chains of 2..100 dimensions) never exceed CPU/wall 1.0: XLA runs these small ops on one thread, and
on a loaded machine 2 CPUs were even slower for tiny targets (gauss2/mala 0.25 s vs 0.15 s with --threads 1), so
also try --threads 1 when BlackJAX's best wall time is wanted.

Checked end to end: with BlackJAX's own blackjax.csv of one seed given as "ebm" results and another seed, 1 of the
50 bulk/tail tests (25 runs) came out "OUT", as expected at the 5% level.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

COLUMNS = ['target', 'sampler', 'device', 'chains', 'draws', 'thin', 'steps', 'epsilon', 'leapfrog', 'seconds',
           'steps_per_s', 'gradients_per_s', 'ess_bulk_min', 'ess_tail_min', 'ess_bulk_per_s', 'ess_tail_per_s',
           'ess_bulk_per_1000_gradients', 'ess_tail_per_1000_gradients', 'rhat_max', 'acceptance',
           'mean_bias_max', 'variance_bias_max']
SAMPLERS = ('ula', 'mala', 'mala_adapt', 'hmc5', 'hmc20')
TARGETS = {'gauss2': 2, 'gauss100': 100, 'funnel10': 10, 'banana2': 2, 'gmm': 2}
DEVICE = 'jax-cpu'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ebm', required=True, help="bench_samplers' output folder (runs.json, init_*.npy, "
                                                    'results.csv)')
    parser.add_argument('--output', required=True, help='folder for blackjax.csv, blackjax_replicates.csv and '
                                                        'comparison.md')
    parser.add_argument('--replicates', type=int, default=3,
                        help='independent BlackJAX runs per (target, sampler) for the ESS noise interval (>= 1; '
                             '1 disables the flag)')
    parser.add_argument('--targets', default=None,
                        help='comma-separated targets to run (default: every analytic target in runs.json)')
    parser.add_argument('--chains', default=None,
                        help='comma-separated chain counts to run (default: every count in runs.json)')
    parser.add_argument('--skip', default=None,
                        help='comma-separated target/sampler runs to leave out, e.g. gauss100/hmc20')
    parser.add_argument('--seed', type=int, default=20240611, help='base seed of every key (printed)')
    parser.add_argument('--timing-repeats', type=int, default=3,
                        help='timed calls of the recorded phase in replicate 0; seconds = the fastest call')
    parser.add_argument('--threads', type=int, default=None,
                        help="CPUs XLA may use (default: runs.json's threads, capped at the CPUs available)")
    return parser.parse_args()


def restrict_cpus(threads):
    """Pins this process to `threads` CPUs; must run before jax is imported (XLA sizes its pools at start-up)."""
    available = sorted(os.sched_getaffinity(0))
    if threads is None or threads <= 0 or threads >= len(available):
        return available
    chosen = available[:threads]
    os.sched_setaffinity(0, chosen)
    return chosen


# ----------------------------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------------------------

def dct_matrix(d):
    """Orthonormal DCT-II matrix: Q[j, i] = sqrt((1 if i == 0 else 2)/d) cos(pi (2j+1) i / (2d)); column i is
    eigenvector i."""
    j = np.arange(d)[:, None]
    i = np.arange(d)[None, :]
    scale = np.where(i == 0, 1.0, 2.0) / d
    return np.sqrt(scale) * np.cos(np.pi * (2 * j + 1) * i / (2 * d))


def make_target(name, d):
    """Returns (logdensity_fn for one state of shape [d], true mean or None, true variance or None), float32."""
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    if name in ('gauss2', 'gauss100'):
        lam = 100.0 ** (np.arange(d) / (d - 1))
        q = dct_matrix(d)
        precision = jnp.asarray((q / lam) @ q.T, dtype=jnp.float32)
        variance = (q ** 2) @ lam  # diag(Q diag(lambda) Q^T)

        def logdensity(x):
            return -0.5 * jnp.dot(x, precision @ x)
        return logdensity, np.zeros(d), variance
    if name == 'funnel10':
        def logdensity(x):
            v = x[0]
            return -(v * v / 18.0 + 0.5 * jnp.exp(-v) * jnp.sum(x[1:] ** 2) + 0.5 * (d - 1) * v)
        return logdensity, np.zeros(d), np.array([9.0] + [math.exp(4.5)] * (d - 1))
    if name == 'banana2':
        def logdensity(x):
            return -(0.5 * x[0] ** 2 + (x[1] - x[0] ** 2) ** 2 / (2.0 * 0.5 ** 2))
        return logdensity, np.array([0.0, 1.0]), np.array([1.0, 2.25])
    if name == 'gmm':
        k = np.arange(8)
        means = jnp.asarray(np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], axis=1),
                            dtype=jnp.float32)
        sd = 0.15
        log_norm = float(np.log(1.0 / 8.0) - np.log(2.0 * np.pi * sd * sd))

        def logdensity(x):
            return logsumexp(-jnp.sum((x - means) ** 2, axis=1) / (2.0 * sd * sd)) + log_norm
        return logdensity, np.zeros(2), np.full(2, 0.5 + sd * sd)
    raise ValueError(name)


# ----------------------------------------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------------------------------------

def make_sampler(sampler, logdensity, epsilon, leapfrog, d):
    """Returns (init(position) -> state, step(key, state) -> (state, acceptance), gradients per step) for one chain.

    Parameterisations verified in blackjax 1.7.1's source (site-packages/blackjax):
      * ULA: blackjax/sgmcmc/diffusions.py, overdamped_langevin().one_step:
            position = p + step_size * g + jnp.sqrt(2 * temperature * step_size) * n
        with g = grad_estimator(position, minibatch) (sgmcmc/sgld.py, build_kernel) and n ~ N(0, I). With the full
        gradient of log p, temperature 1 and step_size h = eps^2/2 this is x + (eps^2/2) grad log p + eps z, ebm's
        ULA exactly (one gradient per step, no accept step).
      * MALA: blackjax/mcmc/diffusions.py, overdamped_langevin().one_step (the proposal):
            lambda p, g, n: p + step_size * g + jnp.sqrt(2 * step_size) * n
        and blackjax/mcmc/mala.py, transition_energy (the MH correction):
            theta = x - new_x - step_size * g   (g = grad log p at new_x)
            return -new_state.logdensity + 0.25 * (1.0 / step_size) * theta_dot
        i.e. the proposal N(x + h grad log p(x), 2h I) with its exact reverse density; h = eps^2/2 gives ebm's
        y = x - (eps^2/2) grad U(x) + eps z. One value_and_grad per step (at the proposal).
      * HMC: blackjax/mcmc/hmc.py, build_kernel: momentum ~ N(0, M) with metrics.default_metric(inverse_mass_matrix)
        (ones(d) -> unit mass, kinetic energy 0.5 p.p), trajectory.static_integration runs
        jax.lax.fori_loop(0, num_integration_steps, ...) of integrators.velocity_verlet
        (velocity_verlet_coefficients = [0.5, 1.0, 0.5]: half momentum step, full position step with one
        value_and_grad, half momentum step) at step_size, then flips the momentum and accepts with
        static_binomial_sampling on delta = H(start) - H(end) (hmc_energy = -logdensity + kinetic energy). So
        step_size = eps and num_integration_steps = L give ebm's HMC with L gradients per step.
    """
    import blackjax
    import jax
    import jax.numpy as jnp

    if sampler == 'ula':
        grad = jax.grad(logdensity)
        alg = blackjax.sgld(lambda position, minibatch: grad(position))
        h = 0.5 * epsilon * epsilon

        def step(key, state):
            return alg.step(key, state, None, h, 1.0), jnp.float32(1.0)
        return alg.init, step, 1
    if sampler in ('mala', 'mala_adapt'):
        alg = blackjax.mala(logdensity, 0.5 * epsilon * epsilon)

        def step(key, state):
            state, info = alg.step(key, state)
            return state, info.acceptance_rate
        return alg.init, step, 1
    if sampler in ('hmc5', 'hmc20'):
        alg = blackjax.hmc(logdensity, step_size=epsilon, inverse_mass_matrix=jnp.ones(d, dtype=jnp.float32),
                           num_integration_steps=leapfrog)

        def step(key, state):
            state, info = alg.step(key, state)
            return state, info.acceptance_rate
        return alg.init, step, leapfrog
    raise ValueError(sampler)


def build_phases(init, step, chains, warmup, draws, thin):
    """Returns jitted (init_fn, warm_fn, record_fn) over `chains` vmapped chains."""
    import jax
    import jax.numpy as jnp

    vstep = jax.vmap(step)

    def one(carry, key):
        state, accepted = carry
        state, acceptance = vstep(jax.random.split(key, chains), state)
        return (state, accepted + acceptance), None

    def warm(key, state):
        zero = jnp.zeros(chains, jnp.float32)
        (state, _), _ = jax.lax.scan(one, (state, zero), jax.random.split(key, warmup))
        return state

    def record(key, state):
        def outer(carry, key):
            carry, _ = jax.lax.scan(one, carry, jax.random.split(key, thin))
            position = carry[0] if not hasattr(carry[0], 'position') else carry[0].position
            return carry, position
        zero = jnp.zeros(chains, jnp.float32)
        (state, accepted), positions = jax.lax.scan(outer, (state, zero), jax.random.split(key, draws))
        return state, positions, jnp.mean(accepted) / (draws * thin)

    return jax.jit(jax.vmap(init)), jax.jit(warm), jax.jit(record)


# ----------------------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------------------

def diagnostics(positions, true_mean, true_var):
    """positions: [draws, chains, d] -> dict of ess_bulk_min, ess_tail_min, rhat_max, mean/variance bias."""
    import arviz as az

    x = np.transpose(np.asarray(positions, dtype=np.float64), (1, 0, 2))  # (chain, draw, d)
    out = {}
    if not np.all(np.isfinite(x)):
        out.update(ess_bulk_min=math.nan, ess_tail_min=math.nan, rhat_max=math.nan)
    else:
        data = az.convert_to_dataset(x)  # one variable 'x' with dims (chain, draw, x_dim_0)
        out['ess_bulk_min'] = float(np.min(az.ess(data, method='bulk')['x'].values))
        out['ess_tail_min'] = float(np.min(az.ess(data, method='tail')['x'].values))
        out['rhat_max'] = float(np.max(az.rhat(data, method='rank')['x'].values))
    flat = x.reshape(-1, x.shape[-1])
    if true_mean is not None:
        mean = flat.mean(axis=0)
        var = flat.var(axis=0)
        out['mean_bias_max'] = float(np.max(np.abs(mean - true_mean) / np.sqrt(true_var)))
        out['variance_bias_max'] = float(np.max(np.abs(var - true_var) / true_var))
    else:
        out['mean_bias_max'] = out['variance_bias_max'] = None
    return out


def fmt(value, digits=4):
    if value is None or value == '':
        return ''
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if math.isnan(value):
        return 'nan'
    return f'{value:.{digits}g}'


def as_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_ebm_results(path):
    rows = {}
    if not os.path.exists(path):
        print(f'note: {path} not found: BlackJAX numbers only, no ratios')
        return rows
    with open(path, newline='') as f:
        for row in csv.DictReader(f):
            key = (row.get('target'), row.get('sampler'), int(float(row.get('chains') or 0)))
            if key in rows:
                print(f'note: {path} has several rows for {key}; the last one is used')
            rows[key] = row
    return rows


def t_quantile_975(df):
    from scipy import stats
    return float(stats.t.ppf(0.975, df))


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------

def main():
    args = parse_args()
    if args.replicates < 1 or args.timing_repeats < 1:
        sys.exit('--replicates and --timing-repeats must be >= 1')
    runs_path = os.path.join(args.ebm, 'runs.json')
    if not os.path.exists(runs_path):
        sys.exit(f'{runs_path} not found: run bench_samplers first (it writes runs.json, init_*.npy and '
                 'results.csv into its output folder)')
    with open(runs_path) as f:
        spec = json.load(f)
    ebm_threads = spec.get('threads')
    cpus = restrict_cpus(args.threads if args.threads is not None else ebm_threads)

    import jax  # after restrict_cpus: XLA sizes its thread pools from the process's CPU affinity
    import arviz
    import blackjax

    print(f'blackjax {blackjax.__version__}, jax {jax.__version__}, arviz {arviz.__version__}, '
          f'numpy {np.__version__}; devices {jax.devices()}')
    print(f'XLA may use CPUs {cpus} ({len(cpus)} of {os.cpu_count()}); ebm ran with threads={ebm_threads}; '
          f'float32 (jax_enable_x64={jax.config.jax_enable_x64}); seed {args.seed}; replicates {args.replicates}')
    os.makedirs(args.output, exist_ok=True)
    ebm_rows = read_ebm_results(os.path.join(args.ebm, 'results.csv'))

    base_key = jax.random.key(args.seed)
    results = []       # (run, blackjax row dict, replicate list)
    replicate_rows = []
    started = time.perf_counter()
    for index, run in enumerate(spec['runs']):
        target, sampler = run['target'], run['sampler']
        if target not in TARGETS:
            print(f'note: skipping {target}/{sampler}: {target} is not an analytic target of this comparison')
            continue
        if args.targets and target not in args.targets.split(','):
            continue
        if args.chains and str(int(run['chains'])) not in args.chains.split(','):
            continue
        if args.skip and f'{target}/{sampler}' in args.skip.split(','):
            print(f'note: skipping {target}/{sampler}: --skip')
            continue
        if sampler not in SAMPLERS:
            print(f'note: skipping {target}/{sampler}: unknown sampler {sampler}')
            continue
        init_path = os.path.join(args.ebm, run.get('init', f'init_{target}.npy'))
        init_positions = np.load(init_path).astype(np.float32)
        chains, warmup, draws, thin = int(run['chains']), int(run['warmup']), int(run['draws']), int(run['thin'])
        epsilon = float(run['epsilon'])
        leapfrog = int(run.get('leapfrog') or (int(sampler[3:]) if sampler.startswith('hmc') else 1))
        if init_positions.ndim != 2 or init_positions.shape[0] != chains:
            sys.exit(f'{init_path}: shape {init_positions.shape}, expected [{chains}, d]')
        d = init_positions.shape[1]
        if d != TARGETS[target]:
            sys.exit(f'{init_path}: dimension {d}, {target} has {TARGETS[target]}')
        if warmup < 1 or draws < 4 or thin < 1:
            sys.exit(f'{target}/{sampler}: warmup >= 1, draws >= 4 and thin >= 1 needed, got {run}')

        logdensity, true_mean, true_var = make_target(target, d)
        init, step, grads_per_step = make_sampler(sampler, logdensity, epsilon, leapfrog, d)
        init_fn, warm_fn, record_fn = build_phases(init, step, chains, warmup, draws, thin)

        run_key = jax.random.fold_in(base_key, index)
        state0 = init_fn(jax.numpy.asarray(init_positions))
        t0 = time.perf_counter()
        warm_c = warm_fn.lower(run_key, state0).compile()
        compile_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        record_c = record_fn.lower(run_key, state0).compile()
        compile_record = time.perf_counter() - t0

        replicates = []
        seconds = cpu_seconds = None
        for r in range(args.replicates):
            key_warm, key_first, key_timed = jax.random.split(jax.random.fold_in(run_key, r), 3)
            state = jax.block_until_ready(warm_c(key_warm, state0))
            if r == 0:  # one untimed call, then the timed calls from the same post-warm-up states
                jax.block_until_ready(record_c(key_first, state))
            timings = []
            for k in range(args.timing_repeats if r == 0 else 1):
                t0, c0 = time.perf_counter(), time.process_time()
                result = jax.block_until_ready(record_c(jax.random.fold_in(key_timed, k), state))
                timings.append((time.perf_counter() - t0, time.process_time() - c0))
                if k == 0:
                    _, positions, acceptance = result
                del result
            elapsed, cpu = min(timings)  # the fastest call: the one least disturbed by other work on the machine
            if r == 0:
                seconds, cpu_seconds = elapsed, cpu
            stats = diagnostics(positions, true_mean, true_var)
            stats['acceptance'] = None if sampler == 'ula' else float(acceptance)
            replicates.append(stats)
            replicate_rows.append({'target': target, 'sampler': sampler, 'chains': chains, 'replicate': r, 'seconds': elapsed,
                                   'cpu_seconds': cpu, 'compile_warmup_s': compile_warm,
                                   'compile_record_s': compile_record, **stats})

        steps = draws * thin
        gradients = chains * steps * grads_per_step
        first = replicates[0]
        row = {'target': target, 'sampler': sampler, 'device': DEVICE, 'chains': chains, 'draws': draws,
               'thin': thin, 'steps': steps, 'epsilon': epsilon, 'leapfrog': leapfrog, 'seconds': seconds,
               'steps_per_s': steps / seconds, 'gradients_per_s': steps * grads_per_step / seconds,
               'ess_bulk_min': first['ess_bulk_min'], 'ess_tail_min': first['ess_tail_min'],
               'ess_bulk_per_s': first['ess_bulk_min'] / seconds, 'ess_tail_per_s': first['ess_tail_min'] / seconds,
               'ess_bulk_per_1000_gradients': 1000.0 * first['ess_bulk_min'] / gradients,
               'ess_tail_per_1000_gradients': 1000.0 * first['ess_tail_min'] / gradients,
               'rhat_max': first['rhat_max'], 'acceptance': first['acceptance'],
               'mean_bias_max': first['mean_bias_max'], 'variance_bias_max': first['variance_bias_max']}
        results.append((run, row, replicates, gradients))
        print(f'{target}/{sampler}: eps {epsilon:g} L {leapfrog} chains {chains} warmup {warmup} draws {draws} '
              f'thin {thin}: compile {compile_warm:.2f}+{compile_record:.2f} s, recorded phase {seconds:.3f} s '
              f'(CPU/wall {cpu_seconds / seconds:.2f}), '
              f'ESS bulk {fmt(first["ess_bulk_min"])} tail {fmt(first["ess_tail_min"])}, '
              f'R-hat {fmt(first["rhat_max"])}, acceptance {fmt(first["acceptance"], 3)}, '
              f'biases {fmt(first["mean_bias_max"], 3)}/{fmt(first["variance_bias_max"], 3)}'
              + (f'; ESS bulk over replicates {[fmt(x["ess_bulk_min"]) for x in replicates]}'
                 if args.replicates > 1 else ''), flush=True)

    with open(os.path.join(args.output, 'blackjax.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for _, row, _, _ in results:
            writer.writerow([fmt(row[c], 8) for c in COLUMNS])
    with open(os.path.join(args.output, 'blackjax_replicates.csv'), 'w', newline='') as f:
        names = ['target', 'sampler', 'chains', 'replicate', 'seconds', 'cpu_seconds', 'compile_warmup_s', 'compile_record_s',
                 'ess_bulk_min', 'ess_tail_min', 'rhat_max', 'acceptance', 'mean_bias_max', 'variance_bias_max']
        writer = csv.writer(f)
        writer.writerow(names)
        for row in replicate_rows:
            writer.writerow([fmt(row[c], 8) for c in names])

    report = comparison(results, ebm_rows, args, spec, cpus)
    with open(os.path.join(args.output, 'comparison.md'), 'w') as f:
        f.write(report)
    print()
    print(report)
    print(f'BlackJAX runs took {time.perf_counter() - started:.1f} s in all; wrote blackjax.csv, '
          f'blackjax_replicates.csv and comparison.md to {args.output}')


def comparison(results, ebm_rows, args, spec, cpus):
    replicates = args.replicates
    t = t_quantile_975(replicates - 1) if replicates > 1 else None
    notes = []
    speed = ['| target | sampler | chains | ebm steps/s | BlackJAX steps/s | ebm ESS_bulk/s | BlackJAX ESS_bulk/s | '
             'ratio bulk/s | ebm ESS_tail/s | BlackJAX ESS_tail/s | ratio tail/s |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    efficiency = ['| target | sampler | chains | ebm ESS_bulk/1000 grad | BlackJAX ESS_bulk/1000 grad | ratio bulk | '
                  '95% null interval bulk | ebm ESS_tail/1000 grad | BlackJAX ESS_tail/1000 grad | ratio tail | '
                  '95% null interval tail | flag | ebm / BlackJAX acceptance | ebm / BlackJAX R-hat max | '
                  'ebm / BlackJAX mean bias | ebm / BlackJAX variance bias |',
                  '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|---|---|---|---|']

    def ratio(a, b):
        return a / b if a is not None and b not in (None, 0) and not math.isnan(b) else None

    for run, row, reps, gradients in results:
        target, sampler = row['target'], row['sampler']
        chains = int(row['chains'])
        ebm = ebm_rows.get((target, sampler, chains))
        if ebm is None and ebm_rows:
            notes.append(f'{target}/{sampler}/{chains} chains: no row in ebm results.csv')
        e = {c: as_float(ebm.get(c)) if ebm else None for c in COLUMNS}
        for kind in ('bulk', 'tail'):
            if e[f'ess_{kind}_per_s'] is None and e[f'ess_{kind}_min'] is not None and e['seconds']:
                e[f'ess_{kind}_per_s'] = e[f'ess_{kind}_min'] / e['seconds']
        if ebm and e['steps_per_s'] is None and e['seconds']:
            e['steps_per_s'] = row['steps'] / e['seconds']
        if ebm:
            for c in ('chains', 'draws', 'thin', 'epsilon', 'leapfrog'):
                if e[c] is not None and not math.isclose(e[c], float(row[c]), rel_tol=1e-5):
                    notes.append(f'{target}/{sampler}: ebm results.csv has {c} = {ebm[c]}, runs.json {row[c]}')
        speed.append(f'| {target} | {sampler} | {chains} | {fmt(e["steps_per_s"])} | {fmt(row["steps_per_s"])} | '
                     f'{fmt(e["ess_bulk_per_s"])} | {fmt(row["ess_bulk_per_s"])} | '
                     f'{fmt(ratio(e["ess_bulk_per_s"], row["ess_bulk_per_s"]), 3)} | '
                     f'{fmt(e["ess_tail_per_s"])} | {fmt(row["ess_tail_per_s"])} | '
                     f'{fmt(ratio(e["ess_tail_per_s"], row["ess_tail_per_s"]), 3)} |')

        cells = []
        flag = 'n/a'
        for kind in ('bulk', 'tail'):
            ebm_ess = e[f'ess_{kind}_min']
            ebm_eff = 1000.0 * ebm_ess / gradients if ebm_ess is not None else None
            reported = e[f'ess_{kind}_per_1000_gradients']
            if (ebm_eff is not None and reported is not None and math.isfinite(ebm_eff)
                    and not math.isclose(reported, ebm_eff, rel_tol=1e-2)):
                per_chain = ebm_eff * row['chains']
                which = ('counts gradients per chain' if math.isclose(reported, per_chain, rel_tol=1e-2)
                         else 'differs')
                notes.append(f'{target}/{sampler}: ebm ess_{kind}_per_1000_gradients = {reported:g} {which}; '
                             f'recomputed as 1000*ess_{kind}_min/(chains*draws*thin*g) = {ebm_eff:g} for the ratio')
            logs = np.log([r[f'ess_{kind}_min'] for r in reps]) - math.log(gradients / 1000.0)
            bj_eff = float(np.exp(np.mean(logs))) if np.all(np.isfinite(logs)) else math.nan
            interval = ''
            verdict = 'n/a'
            finite_ebm = ebm_eff is not None and math.isfinite(ebm_eff) and ebm_eff > 0
            if t is not None and np.all(np.isfinite(logs)) and finite_ebm:
                h = t * float(np.std(logs, ddof=1)) * math.sqrt(1.0 + 1.0 / replicates)
                interval = f'[{fmt(math.exp(-h), 3)}, {fmt(math.exp(h), 3)}]'
                verdict = 'OUT' if abs(math.log(ebm_eff) - float(np.mean(logs))) > h else 'ok'
            if verdict == 'OUT' or (verdict == 'ok' and flag == 'n/a'):
                flag = verdict
            cells += [fmt(ebm_eff), fmt(bj_eff), fmt(ratio(ebm_eff, bj_eff), 3), interval]
        pair = lambda c, d=3: f'{fmt(e[c], d)} / {fmt(row[c], d)}'
        efficiency.append(f'| {target} | {sampler} | {chains} | ' + ' | '.join(cells) +
                          f' | {flag} | {pair("acceptance")} | {pair("rhat_max", 4)} | {pair("mean_bias_max")} | '
                          f'{pair("variance_bias_max")} |')

    threads = spec.get('threads')
    lines = ['# ebm vs BlackJAX: samplers on analytic targets', '',
             f'ebm: {args.ebm} (threads {threads}); BlackJAX on {len(cpus)} CPU(s), float32, seed {args.seed}, '
             f'{replicates} replicate(s). Ratios are ebm / BlackJAX (> 1: ebm better).', '',
             '## Wall clock (recorded phase only; BlackJAX: the timed replicate 0)', '', *speed, '',
             '## Statistical efficiency (ESS per 1000 gradient evaluations over all chains)', '',
             f'BlackJAX ESS/1000 grad is the geometric mean over the {replicates} replicate(s); the ratio is ebm / '
             'that mean. flag "OUT": ebm lies outside the 95% prediction interval exp(+-t_{0.975,R-1} s '
             'sqrt(1+1/R)) of the replicates\' log ESS per gradient (s their standard deviation) for bulk or '
             'tail; "ok": inside for both; "n/a": fewer than 2 replicates, no ebm row or non-finite ESS.'
             + (f' Here R = {replicates}, t = {t:.3f}.' if t else ''), '', *efficiency, '']
    if notes:
        lines += ['Notes:', ''] + [f'- {n}' for n in notes] + ['']
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
