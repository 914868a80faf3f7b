#!/usr/bin/python3
"""README's speed table from the CSV files of scripts/analysis/speed_table.sh.

Per tier: F16's t/s, every quantised model's t/s divided by F16's in the same run (the
range over the runs given), each model's decode stream as a fraction of the same-run read
bandwidth, the bandwidth, and the resident memory. Analysis only (not built, not tested).

usage: scripts/analysis/speed_table.py OUT [OUT ...]
"""
import collections, csv, glob, sys

ratio, f16, stream, bw, resident = (collections.defaultdict(list) for _ in range(5))
for out in sys.argv[1:]:
    for path in sorted(glob.glob(out + '/*.csv')):
        size, tier, _order = path.rsplit('/', 1)[1][:-4].split('-')
        rows = list(csv.DictReader(open(path)))
        base = {r['test']: float(r['avg_ts']) for r in rows if r['model_type'] in ('m130', 'm14')}
        for r in rows:
            model, test, ts = r['model_type'], r['test'], float(r['avg_ts'])
            bw[tier].append(float(r['read_bandwidth_gbps']))
            resident[model].append(int(r['resident_bytes']) / 2**20)
            if r['read_bandwidth_fraction']:
                stream[(model, tier)].append(100 * float(r['read_bandwidth_fraction']))
            if model in ('m130', 'm14'):
                f16[(model, test, tier)].append(ts)
            else:
                ratio[(model, test, tier)].append(ts / base[test])


def span(v, fmt='%.2f'):
    return (fmt % min(v)) + '–' + (fmt % max(v)) if v else '—'


tiers = sorted(bw, reverse=True)
for tier in tiers:
    print(f'== {tier}: read bandwidth {span(bw[tier], "%.1f")} GB/s')
    for key in sorted(k for k in f16 if k[2] == tier):
        print(f'  F16 {key[0]} {key[1]}: {span(f16[key], "%.1f")} t/s')
    for model in ('m130', 'm130-q8', 'm130-q4', 'm130-q4h8', 'm130-q4ch8', 'm14', 'm14-q8', 'm14-q4h8', 'm14-q4ch8'):
        tests = ['pp128', 'pp512', 'tg32'] if model.startswith('m130') else ['pp64', 'tg16']
        cells = [f'{t} {span(ratio[(model, t, tier)])}×' for t in tests if ratio[(model, t, tier)]]
        print(f'  {model}: ' + ' | '.join(cells) + f' | decode stream {span(stream[(model, tier)], "%.0f")} %')
for model in sorted(resident):
    print(f'resident {model}: {span(resident[model], "%.0f")} MiB')
