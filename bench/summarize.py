"""summarize.py RAW OUT: turns bench/run.sh's raw lines into the table it prints and OUT
(bench/RESULTS.md). The last line printed is the geometric mean of the normlab/PyTorch
training-speed ratios over the configurations."""
import math
import re
import statistics
import sys


def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def conv_macs(depth):
    """Multiply-adds per image of every conv layer of plain(depth) (PROTOCOL.md)."""
    macs, cin, hw, prev = [], 3, 32, 0
    for b in range(depth):
        s = 3 * b // depth
        if b > 0 and s != prev:
            hw //= 2
        prev = s
        cout = 32 << s
        macs.append(cout * hw * hw * cin * 9)
        cin = cout
    return macs


def placement_table(cfgs, results, corelat):
    """The speeds split by where the host had the two vCPUs: a run counts as "near" when the
    cross-core round trip probed just before and after it (bench_corelat) was at most twice
    the shortest probe of the whole benchmark. Empty without probes."""
    if not corelat:
        return []
    probes = sorted(corelat.values())
    limit = 2 * probes[0]
    out = ["### Where the host had the two vCPUs (cross-core round trip of a cache line)", "",
           f"Probes around every measured process (the worse of before and after): shortest "
           f"{probes[0]:.0f} ns, median {statistics.median(probes):.0f} ns, longest {probes[-1]:.0f} ns. "
           f"A run is *near* when its probe was at most {limit:.0f} ns (twice the shortest). Apart, "
           f"every hand-off of data between normlab's two threads costs several times more; two "
           f"independent processes do not slow down. The split below is approximate: the placement "
           f"can change during a run.", "",
           "| config | normlab near: runs, img/s | PyTorch near: runs, img/s | ratio, near runs | "
           "normlab apart: runs, img/s | PyTorch apart: runs, img/s | ratio, apart runs |",
           "|" + "---|" * 7]

    def split(cfg, fw):
        near, apart = [], []
        for r in results.get((cfg, fw), []):
            ns = corelat.get((cfg, r.get("round"), fw))
            if ns is not None:
                (near if ns <= limit else apart).append(float(r["ips"]))
        return near, apart

    def cell(v):
        return f"{len(v)}, {statistics.median(v):.0f}" if v else "0, -"

    def ratio(a, b):
        return f"{statistics.median(a) / statistics.median(b):.2f}x" if a and b else "-"

    for cfg in cfgs:
        nl_near, nl_apart = split(cfg, "normlab")
        pt_near, pt_apart = split(cfg, "torch")
        out.append(f"| {cfg} | {cell(nl_near)} | {cell(pt_near)} | {ratio(nl_near, pt_near)} | "
                   f"{cell(nl_apart)} | {cell(pt_apart)} | {ratio(nl_apart, pt_apart)} |")
    return out


def main(raw_path, out_path):
    meta, results, profiles, sgemm, sgemm_auto, core, core_auto = {}, {}, {}, None, None, "?", "?"
    convtab, corelat = [], {}
    for line in open(raw_path):
        line = line.rstrip("\n")
        if line.startswith("META "):
            k, _, v = line[5:].partition("=")   # one key per line, the value is the rest
            meta[k] = v
        elif line.startswith("RESULT "):
            d = kv(line)
            results.setdefault((d["cfg"], d["fw"]), []).append(d)
        elif line.startswith("PROFILE "):
            d = kv(line)
            profiles.setdefault(d["cfg"], []).append(d)
        elif line.startswith("CORELAT "):
            d = kv(line)
            ns = float(d["ns"])
            if not math.isnan(ns):   # nan: a single CPU
                key = (d["cfg"], d["round"], d["fw"])
                corelat[key] = max(corelat.get(key, 0.0), ns)   # the worse of before and after
        elif line.startswith("SUMMARY_AUTO "):
            sgemm_auto = kv(line)
        elif line.startswith("SUMMARY "):
            sgemm = kv(line)
        elif line.startswith("CONVTAB "):
            convtab.append(line[8:])
        elif line.startswith("# AUTO OpenBLAS") and " core " in line:
            m = re.search(r" core (\w+),", line)
            core_auto = m.group(1) if m else "?"
        elif line.startswith("# OpenBLAS") and " core " in line and "openblas" not in meta:
            m = re.search(r" core (\w+),", line)
            core = m.group(1) if m else "?"
            meta["openblas"] = line[2:].split(",")[0]

    cfgs = []
    for (cfg, _fw) in results:
        if cfg not in cfgs:
            cfgs.append(cfg)

    def cfg_key(c):
        d, n, b = c.split("-")
        return (0 if b == "128" and n == "bn" and d != "d8" else 1, int(d[1:]), n, int(b))
    cfgs.sort(key=cfg_key)

    rows, ratios, ratios_wf, lines = [], [], [], []
    has_wf = any(fw == "normlab-wf" for (_c, fw) in results)
    for cfg in cfgs:
        nl, pt = results.get((cfg, "normlab"), []), results.get((cfg, "torch"), [])
        wf = results.get((cfg, "normlab-wf"), [])
        if not nl or not pt:
            lines.append(f"{cfg}: missing a result (normlab {len(nl)}, torch {len(pt)} runs)")
            continue
        ips_nl = statistics.median(float(r["ips"]) for r in nl)
        ips_pt = statistics.median(float(r["ips"]) for r in pt)
        ips_wf = statistics.median(float(r["ips"]) for r in wf) if wf else None
        rss_nl = max(float(r["rss_mb"]) for r in nl)
        rss_pt = max(float(r["rss_mb"]) for r in pt)
        base_pt = statistics.median(float(r["base_rss_mb"]) for r in pt)
        ratio = ips_nl / ips_pt
        ratios.append(ratio)
        # the same ratio within each round (both frameworks ran back to back): its spread shows
        # how much the machine's drift moves the headline figure
        by_round = {r.get("round"): float(r["ips"]) for r in pt}
        paired = sorted(float(r["ips"]) / by_round[r.get("round")] for r in nl if r.get("round") in by_round)
        spread = f" ({paired[0]:.2f}-{paired[-1]:.2f})" if len(paired) > 1 else ""
        if ips_wf:
            ratios_wf.append(ips_wf / ips_pt)
        depth, batch = int(cfg.split("-")[0][1:]), int(cfg.split("-")[2])
        share, eff, prof = "", "", profiles.get(cfg, [])
        if prof:
            p = prof[0]
            share = f"{100 * float(p['conv_share']):.0f}%"
            m = conv_macs(depth)
            flops = 2.0 * (3 * sum(m) - m[0]) * batch   # fwd + dW + dx (no dx for the image)
            conv_s = float(p["conv_ms"]) / 1e3
            eff = f"{flops / conv_s * 1e-9:.0f}" if conv_s > 0 else ""
        rows.append((cfg, ips_nl, ips_pt, ratio, spread, rss_nl, rss_pt, base_pt, share, eff, ips_wf))

    hdr = ("| config | normlab img/s | PyTorch img/s | normlab/PyTorch (per round: min-max) | normlab peak RSS MB | "
           "PyTorch peak RSS MB (after import) | RSS normlab/PyTorch | normlab conv share | "
           "conv GFLOP/s (effective) |" + (" normlab, library default (im2col forward): img/s (/PyTorch) |" if has_wf else ""))
    sep = "|" + "---|" * (10 if has_wf else 9)
    table = [hdr, sep]
    for (cfg, a, b, r, spr, ra, rb, bb, sh, ef, wfv) in rows:
        extra = (f" {wfv:.0f} ({wfv / b:.2f}x) |" if wfv else " |") if has_wf else ""
        table.append(f"| {cfg} | {a:.0f} | {b:.0f} | {r:.2f}x{spr} | {ra:.0f} | {rb:.0f} ({bb:.0f}) | "
                     f"{ra / rb:.2f} | {sh} | {ef} |" + extra)

    prof_hdr = "| config | step ms | conv | bn | gn | act | pool | linear | loss | optim | other |"
    prof_tab = [prof_hdr, "|" + "---|" * 11]
    for cfg in cfgs:
        for p in profiles.get(cfg, [])[:1]:
            f = lambda k: f"{float(p.get(k + '_ms', 0)):.1f}"
            prof_tab.append(f"| {cfg} | {float(p['step_ms']):.1f} | {f('conv')} | {f('bn')} | {f('gn')} | "
                            f"{f('act')} | {f('pool')} | {f('linear')} | {f('loss')} | {f('optim')} | {f('other')} |")

    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else float("nan")
    geo_wf = math.exp(sum(math.log(r) for r in ratios_wf) / len(ratios_wf)) if ratios_wf else None
    sg = []
    if sgemm:
        sg.append(f"- OpenBLAS with the kernels normlab uses (core {core}, {sgemm['threads']} threads) on the "
                  f"im2col GEMM shapes of plain(8) at batch 128 (forward, grad weight and grad col of every "
                  f"layer, one image per call as src/ops/conv2d.c makes them, weighted by flops): "
                  f"**{sgemm['im2col_gflops']} GFLOP/s**, {float(sgemm['conv_sgemm_ms']):.0f} ms of sgemm per "
                  f"training step; large square sgemm (2048^3): {sgemm['square_gflops']} GFLOP/s.")
    if sgemm_auto:
        sg.append(f"- With OpenBLAS's own kernel choice (core {core_auto}: OpenBLAS 0.3.21 does not know this "
                  f"CPU model; normlab's main() picks the AVX-512 kernels itself): {sgemm_auto['im2col_gflops']} "
                  f"GFLOP/s on the model's shapes, {sgemm_auto['square_gflops']} GFLOP/s square.")
    for cfg, *_ in rows:
        if cfg == "d8-bn-128" and sgemm and profiles.get(cfg):
            conv_ms = float(profiles[cfg][0]["conv_ms"])
            sg.append(f"- d8-bn-128: normlab's convolutions take {conv_ms:.0f} ms per step against "
                      f"{float(sgemm['conv_sgemm_ms']):.0f} ms that the plain im2col GEMMs alone would need at "
                      f"the rate above ({conv_ms / float(sgemm['conv_sgemm_ms']):.2f}x; the Winograd backward "
                      f"pass does fewer multiplies, so below 1 is possible).")

    placement = placement_table(cfgs, results, corelat)

    md = []
    md.append("# normlab vs PyTorch: training speed and memory (issue 6)")
    md.append("")
    md.append(f"Generated by `make bench` (bench/run.sh) on {meta.get('date', '?')} in "
              f"{meta.get('minutes', '?')} min.")
    md.append("")
    md.append("## Machine and versions")
    md.append(f"- CPU: {meta.get('cpu', '?')}; {meta.get('cores', '?')} cores, {meta.get('mem', '?')}, "
              f"Linux {meta.get('kernel', '?')}")
    md.append(f"- Load average (1, 5, 15 min) before: {meta.get('load_before', '?')}; "
              f"1-minute, as each round started: {meta.get('round_loads', '?')}; "
              f"after: {meta.get('load_after', '?')} (mostly the benchmark's own; a shared machine: "
              f"compare only within one run)")
    md.append(f"- normlab {meta.get('normlab', '?')} ({meta.get('lua', '?')}, Winograd code: "
              f"{meta.get('winograd', '?')}), {meta.get('cc', '?')}")
    md.append(f"- PyTorch {meta.get('torch', '?')} (Debian python3-torch, its convolutions on oneDNN: "
              f"{meta.get('onednn', '?')})")
    md.append(f"- {meta.get('openblas', 'OpenBLAS ?')}")
    md.append(f"- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE were unset for every benchmark command, "
              f"both frameworks (their values in the environment: {meta.get('openblas_env', '?')}).")
    md.append("")
    md.append("## Method")
    md.append(f"- {meta.get('threads', '?')} threads for both (normlab --threads, torch.set_num_threads); "
              f"{meta.get('rounds', '?')} round(s); in each round, every configuration runs normlab and "
              f"PyTorch back to back in separate processes, alternating which goes first.")
    md.append(f"- A process trains plain(depth, relu, norm, cna, 10 classes) (../shared/PROTOCOL.md) with SGD "
              f"(lr 0.05*B/128, momentum 0.9, weight decay 5e-4) on one fixed synthetic batch (the data "
              f"pipeline is not timed); warm-up of at least 3 steps and 0.5 s, then at least 5 steps and "
              f"{meta.get('seconds', '?')} s are timed, step by step. img/s = batch / median step time "
              f"(robust to other jobs on a shared machine), then the median over rounds. The ratio "
              f"column is the ratio of those medians; in parentheses, the smallest and largest ratio "
              f"within one round (the two frameworks back to back): the machine's speed drifts by tens "
              f"of percent within minutes, for both.")
    md.append("- normlab trains as the study scripts do (`--conv winograd-auto`: Winograd F(4x4,3x3) in "
              "both passes of the 3x3 layers where it pays, im2col + sgemm elsewhere), with BatchNorm/"
              "GroupNorm and the ReLU after them fused into one layer by nn.Sequential.")
    md.append("- Peak RSS: VmHWM (= ru_maxrss) at the end of the timed steps, the largest over rounds; "
              "PyTorch's resident set right after `import torch` is in parentheses.")
    md.append("- Conv share: time inside Conv2d forward+backward over the step time, from a separate "
              "profiling phase of normlab's first-round process (wall clock around every layer). "
              "Effective conv GFLOP/s counts the direct algorithm's flops (2 x MACs for forward, grad "
              "weight and grad input, without the first layer's grad input), so a fast algorithm can "
              "exceed the sgemm rate.")
    md.append("")
    md.append("## Results")
    md.append("")
    # Other jobs show in the load average as each round starts when the run waited for a quiet
    # machine (--wait-quiet), else only before the run (a later round starts under the load of
    # the previous one); the load after the run is mostly the benchmark's own.
    try:
        if meta.get("wait_quiet", "0") != "0" and meta.get("round_loads"):
            loads = [float(v) for v in meta["round_loads"].split()]
        else:
            loads = [float(meta.get("load_before", "0").split()[0])]
        cores = int(meta.get("cores", "2"))
    except ValueError:
        loads, cores = [0.0], 2
    if max(loads) > 0.5 * cores:
        md.append(f"**Warning: the machine was busy (1-minute load average {max(loads):.1f} on {cores} cores "
                  f"as the run or a round started).** Both frameworks then run with fewer cores than threads; PyTorch's "
                  f"OpenMP threads wait for each other at every parallel region and lose far more than "
                  f"normlab (whose pool sleeps after 100 us), especially at small batch sizes, so the "
                  f"ratios below overstate normlab's advantage. Rerun on a quiet machine "
                  f"(`bash bench/run.sh --wait-quiet 30`).")
        md.append("")
    md.extend(table)
    md.append("")
    md.append(f"Geometric mean of the normlab/PyTorch speed ratios: **{geo:.2f}**" +
              (f" (with the library default, im2col forward: {geo_wf:.2f})" if geo_wf else ""))
    md.append("")
    md.append("### sgemm")
    md.extend(sg)
    md.append("")
    if convtab:
        md.append("### normlab's convolution layers: im2col + sgemm vs Winograd (batch 128, ms per call)")
        md.append("")
        md.append("```")
        md.extend(convtab)
        md.append("```")
        md.append("")
    if placement:
        md.extend(placement)
        md.append("")
    md.append("### normlab time per training step by layer type (ms, profiling phase)")
    md.append("")
    md.extend(prof_tab)
    md.append("")
    if lines:
        md.append("### Problems")
        md.extend("- " + l for l in lines)
        md.append("")
    with open(out_path, "w") as f:
        f.write("\n".join(md))

    print()
    print("\n".join(table))
    print()
    print("\n".join(prof_tab))
    print()
    for s in sg:
        print(s)
    if placement:
        print()
        print("\n".join(placement))
    for l in lines:
        print("problem:", l)
    if geo_wf:
        print(f"geometric mean with the library default (im2col forward): {geo_wf:.2f}")
    print(f"results written to {out_path}")
    print(f"geometric mean normlab/PyTorch speed ratio: {geo:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
