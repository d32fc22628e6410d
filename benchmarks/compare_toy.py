#!/usr/bin/env python3
"""Runs the ebm toy benchmark (bench_toy) and the PyTorch reference (pytorch/toy_iteration.py) and prints the
speed-up of ebm over PyTorch per toy regime: speedup = torch s/iteration / ebm s/iteration.

  python3 benchmarks/compare_toy.py [--build build/bench] [--threads 2] [--repetitions 5]
                                    [--python /usr/bin/python3 --python build/venv-torch/bin/python]

Builds nothing: build bench_toy first (cmake --build <build> --target bench_toy). Every PyTorch interpreter given
with --python is timed (default: Debian's /usr/bin/python3 with torch 1.13, plus build/venv-torch/bin/python when it
exists). Timings on a shared machine are noisy: the median of the repetitions is used for both sides.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REGIMES = {'convergent': 'BM_convergent_iteration', 'non-convergent': 'BM_non_convergent_iteration'}


def ebm_seconds(build, threads, repetitions, min_time, env):
    exe = os.path.join(build, 'benchmarks', 'toy', 'bench_toy')
    if not os.path.exists(exe):
        sys.exit(f'{exe} not found: build it with cmake --build {build} --target bench_toy')
    pattern = '|'.join(f'{name}/threads:{threads}/' for name in REGIMES.values())
    out = subprocess.run([exe, f'--benchmark_filter={pattern}', '--benchmark_format=json',
                          f'--benchmark_repetitions={repetitions}', f'--benchmark_min_time={min_time}'],
                         check=True, capture_output=True, text=True, env=env).stdout
    runs = json.loads(out)['benchmarks']
    result = {}
    for regime, name in REGIMES.items():
        times = [r['real_time'] for r in runs
                 if r['name'].startswith(f'{name}/threads:{threads}/') and r.get('run_type') == 'iteration']
        unit = {'ns': 1e-9, 'us': 1e-6, 'ms': 1e-3, 's': 1.0}[runs[0]['time_unit']]
        cpu = [r['cpu_time'] for r in runs
               if r['name'].startswith(f'{name}/threads:{threads}/') and r.get('run_type') == 'iteration']
        result[regime] = (statistics.median(times) * unit, min(times) * unit, statistics.median(cpu) * unit)
    return result


def torch_seconds(python, threads, repeats, env):
    script = os.path.join(HERE, 'pytorch', 'toy_iteration.py')
    out = subprocess.run([python, script, '--threads', str(threads), '--repeats', str(repeats), '--json'],
                         check=True, capture_output=True, text=True, env=env).stdout
    info = json.loads(out.strip().splitlines()[-1])
    return info['torch'], {r['regime']: (r['seconds_per_iteration'], r['min_seconds_per_iteration'],
                                         r['cpu_seconds_per_iteration']) for r in info['results']}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--build', default=os.path.join(ROOT, 'build', 'bench'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repetitions', type=int, default=5)
    parser.add_argument('--min-time', default='1.0', help='seconds per ebm repetition')
    parser.add_argument('--python', action='append', help='Python interpreter(s) with torch')
    parser.add_argument('--passive', action='store_true',
                        help='OMP_WAIT_POLICY=PASSIVE for both sides: on a machine shared with other busy processes, '
                             'spinning OpenMP threads are descheduled and 2-thread timings blow up (both libraries)')
    args = parser.parse_args()
    env = dict(os.environ)
    if args.passive:
        env['OMP_WAIT_POLICY'] = 'PASSIVE'
    pythons = args.python or [p for p in ['/usr/bin/python3', os.path.join(ROOT, 'build', 'venv-torch', 'bin', 'python')]
                              if os.path.exists(p)]

    ebm = ebm_seconds(args.build, args.threads, args.repetitions, args.min_time, env)
    print(f'threads: {args.threads}{" (OMP_WAIT_POLICY=PASSIVE)" if args.passive else ""}; '
          f'time per iteration, median (min) of the repetitions')
    for regime, (median, best, cpu) in ebm.items():
        print(f'  ebm                 {regime:15s} {median * 1e3:8.2f} ms ({best * 1e3:.2f})')
    for python in pythons:
        try:
            version, torch = torch_seconds(python, args.threads, args.repetitions, env)
        except (subprocess.CalledProcessError, json.JSONDecodeError, IndexError) as e:
            print(f'  {python}: PyTorch run failed ({e})')
            continue
        for regime, (median, best, cpu) in torch.items():
            line = (f'  torch {version:14s}{regime:15s} {median * 1e3:8.2f} ms ({best * 1e3:.2f})   '
                    f'ebm speedup {median / ebm[regime][0]:6.1f}x (best vs best {best / ebm[regime][1]:.1f}x)')
            if args.threads == 1:  # CPU time is the work itself with one thread (less disturbed by other processes)
                line += f', CPU time {cpu / ebm[regime][2]:.1f}x'
            print(line)


if __name__ == '__main__':
    main()
