/**
 * The ablations' pairing (src/analysis/ablation.ts): which runs differ only in their optimizer or their
 * architecture, the D of Δ_t^{2t} before, at and after each run's break, and the figures F1 and F2 per
 * optimizer (a panel per group, a colour per optimizer, the same colour in every panel).
 */
import { assert, assertEquals } from "./asserts.ts";
import { bandExtent, lineLayer, panels, values } from "./figure_helpers.ts";
import type { Spec } from "./figure_helpers.ts";
import { ablationGroups, ablationRows } from "../src/analysis/ablation.ts";
import type { AblationRun } from "../src/analysis/ablation.ts";
import type { DecelerationCurveRow, DecelerationRow } from "../src/results/deceleration.ts";
import type { Dt2tRow } from "../src/results/interference.ts";
import { ablationFigures } from "../src/report/figures.ts";
import { ablationMarkdown } from "../src/report/markdown.ts";
import { ablationTable } from "../src/report/tables.ts";

/** A run of a sweep over archs × optimizers (and a second seed for one of them). */
function run(arch: string, optimizer: string, seed = 0): AblationRun {
  const name = `cpu-xs_${arch}_${optimizer}${seed ? `_s${seed}` : ""}`;
  return {
    name,
    arch,
    optimizer,
    warmup: 8,
    shared: {
      optimizer: JSON.stringify({ seed, arch }),
      arch: JSON.stringify({ seed, optimizer }),
    },
  };
}

const RUNS = [
  run("olmo", "adamw"),
  run("olmo", "muon"),
  run("nanogpt", "adamw"),
  run("nanogpt", "muon"),
  run("nanogpt", "cautious", 1), // another seed: compared with nothing
];

function fit(name: string, identified: boolean, tD: number): DecelerationRow {
  return {
    name,
    identified,
    tD,
    tDMin: tD / 1.2,
    tDMax: tD * 1.2,
    lossD: 3,
    rateD: 0.02,
    finalLoss: 2.5,
  } as DecelerationRow;
}

function windows(name: string, ds: number[]): Dt2tRow[] {
  return ds.map((D, i) => ({ model: name, t: 2 ** i, t2: 2 ** (i + 1), D } as Dt2tRow));
}

Deno.test("ablation: runs that differ only in one axis are grouped, named without its value", () => {
  const byOptimizer = ablationGroups(RUNS, "optimizer");
  assertEquals(
    byOptimizer.map((group) => [group.name, group.members.map((m) => m.value)]),
    [["cpu-xs_olmo", ["adamw", "muon"]], ["cpu-xs_nanogpt", ["adamw", "muon"]]],
  );
  const byArch = ablationGroups(RUNS, "arch");
  assertEquals(
    byArch.map((group) => [group.name, group.members.map((m) => m.value)]),
    [["cpu-xs_adamw", ["olmo", "nanogpt"]], ["cpu-xs_muon", ["olmo", "nanogpt"]]],
  );
  // Runs of one value (two seeds of one optimizer) compare nothing.
  assertEquals(ablationGroups([run("olmo", "adamw"), run("olmo", "adamw", 1)], "optimizer"), []);
});

Deno.test("ablation: D before, at and after the break only where it is identified; the last window always", () => {
  // Windows 1→2, 2→4, …, 64→128. t_d = 20 (range 16.7–24): before = 8→16 (ends ≤ 16.7), at = 16→32,
  // after = 32→64 (starts ≥ 24).
  const deceleration = [fit("cpu-xs_olmo_adamw", true, 20), fit("cpu-xs_olmo_muon", false, 20)];
  const dt2t = [
    ...windows("cpu-xs_olmo_adamw", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
    ...windows("cpu-xs_olmo_muon", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
  ];
  const rows = ablationRows(RUNS, deceleration, dt2t);
  const adamw = rows.find((row) => row.axis === "optimizer" && row.run === "cpu-xs_olmo_adamw")!;
  assertEquals(
    [adamw.dBeforeT, adamw.dBefore, adamw.dBreakT, adamw.dBreak, adamw.dAfterT, adamw.dAfter],
    [8, 0.4, 16, 0.5, 32, 0.6],
  );
  assertEquals([adamw.dLastT, adamw.dLast, adamw.tDOverWarmup], [64, 0.7, 2.5]);
  const muon = rows.find((row) => row.axis === "optimizer" && row.run === "cpu-xs_olmo_muon")!;
  assert(!muon.identified && Number.isNaN(muon.dBefore) && muon.dBeforeT === -1, "unidentified: no windows");
  assertEquals([muon.dLastT, muon.dLast], [64, 0.7]);
  // A run without a fit or windows: NaN everywhere, "no fit" in the table.
  const bare = rows.find((row) => row.run === "cpu-xs_nanogpt_muon" && row.axis === "optimizer")!;
  assert(Number.isNaN(bare.tD) && bare.dLastT === -1);
  assertEquals(rows.filter((row) => row.axis === "optimizer").length, 4);
  assertEquals(rows.filter((row) => row.axis === "arch").length, 4);
  const table = ablationTable(rows.filter((row) => row.axis === "optimizer"));
  assertEquals(table.rows[0].slice(0, 3), ["cpu-xs_olmo", "adamw", "20 (17–24)"]);
  assertEquals(table.rows[1][1], "muon ⚠");
  assertEquals(table.rows[0].slice(6, 9), ["0.400 (8→16)", "0.500 (16→32)", "0.600 (32→64)"]);
  assertEquals(table.rows[3][2], "no fit");
  const markdown = ablationMarkdown(rows);
  assert(markdown.includes("differ only in their optimizer") && markdown.includes("architecture"), markdown);
});

Deno.test("ablation: F1 and F2 per optimizer have a panel per group, one colour per optimizer everywhere", () => {
  const deceleration = [fit("cpu-xs_olmo_adamw", true, 20), fit("cpu-xs_olmo_muon", true, 40)];
  const rows = ablationRows(RUNS, deceleration, [
    ...windows("cpu-xs_olmo_adamw", [0.1, 0.2, 0.3]),
    ...windows("cpu-xs_olmo_muon", [0.4, 0.5, 0.6]),
    ...windows("cpu-xs_nanogpt_adamw", [0.2, 0.2, 0.2]),
  ]);
  const curves: DecelerationCurveRow[] = ["cpu-xs_olmo_adamw", "cpu-xs_olmo_muon", "cpu-xs_nanogpt_muon"]
    .flatMap((model) =>
      [1, 2, 4].map((step) => ({ model, series: "smoothed" as const, step, loss: 5 / step }))
    );
  const figures = new Map(ablationFigures({ rows, curves, dt2t: [] }));
  // No Δ_t^{2t} rows given: F1 only, for both axes.
  assertEquals([...figures.keys()], ["zsl_ablation_optimizer_f1", "zsl_ablation_arch_f1"]);
  const withWindows = new Map(ablationFigures({
    rows,
    curves,
    dt2t: [...windows("cpu-xs_olmo_adamw", [0.1, 0.2]), ...windows("cpu-xs_olmo_muon", [0.3, 0.4])],
  }));
  const f1 = withWindows.get("zsl_ablation_optimizer_f1") as unknown as Spec;
  const f1Panels = f1.hconcat as Spec[];
  assertEquals(f1Panels.map((panel) => panel.title), ["cpu-xs_olmo", "cpu-xs_nanogpt"]);
  for (const panel of f1Panels) {
    const color = (lineLayer(panel).encoding as Record<string, Spec>).color;
    assertEquals((color.scale as Spec).domain, ["adamw", "muon"], "every panel: the same colours");
    assertEquals(color.title, "Optimizer");
  }
  // The olmo panel draws both runs, as their optimizers, and shades the union of their t_d ranges.
  const drawn = values<{ model: string }>(f1Panels[0]).map((point) => point.model);
  assertEquals([...new Set(drawn)], ["adamw", "muon"]);
  const band = bandExtent(f1Panels[0])!;
  assert(Math.abs(band[0] - 20 / 1.2) < 1e-9 && Math.abs(band[1] - 48) < 1e-9, `band ${band}`);
  // The nanoGPT panel has no identified fit: no band.
  assertEquals(bandExtent(f1Panels[1]), null);
  const f2 = withWindows.get("zsl_ablation_optimizer_f2") as unknown as Spec;
  assertEquals((f2.vconcat as Spec[]).map((row) => row.title), ["cpu-xs_olmo"]);
  assertEquals(panels(f2).length, 3, "one group with windows: D, M, |ΔL|");
  assert(!("$schema" in (f2.vconcat as Spec[])[0]), "the panels are views, not whole figures");
});
