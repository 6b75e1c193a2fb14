/**
 * The summary at the top of report.html (`src/report/overview.ts`) on synthetic result rows: which
 * window and checkpoint it reads at the break and at the end, that an unidentified break gives no
 * "at the break" values, D(∇ℓ) beside its noise level at the same N, and the warmup control's verdicts
 * read through the results layer (`src/results/warmup_control.ts`).
 *
 * @module
 */
import { assert, assertEquals, assertRejects } from "./asserts.ts";
import type { DecelerationRow } from "../src/results/deceleration.ts";
import type { GradientInterferenceRow } from "../src/results/gradients.ts";
import type { Dt2tRow } from "../src/results/interference.ts";
import { writeTable } from "../src/results/table.ts";
import { readWarmupVerdicts } from "../src/results/warmup_control.ts";
import {
  WARMUP_CONTROL_TABLE,
  WARMUP_VERDICT_TABLE,
  type WarmupControlRow,
  type WarmupVerdictRow,
} from "../src/results/warmup.ts";
import { overviewTable, runOverviews } from "../src/report/overview.ts";
import { interferenceNull } from "../src/report/tables.ts";
import { textTableHtml } from "../src/report/html.ts";

function fit(name: string, identified: boolean, tD: number): DecelerationRow {
  return {
    name,
    identified,
    reasons: identified ? "" : "c1 = 0.4 ≥ 0: the curve does not flatten after the break",
    tD,
    tDMin: tD * 0.9,
    tDMax: tD * 1.1,
    lossD: 2.8861,
    lossDErr: 0.0113,
    rateD: 0.12765,
    rateDErr: 0.00141,
  } as DecelerationRow;
}

function windows(model: string): Dt2tRow[] {
  return [1, 2, 4, 8, 16, 32, 64].map((t) =>
    ({ model, t, t2: 2 * t, D: t / 100, M: 1 / t, absDeltaL: 0.5 / t }) as Dt2tRow
  );
}

function gradients(run: string, granularity: string, examples: number): GradientInterferenceRow[] {
  return [4, 16, 64].map((step) =>
    ({ run, step, granularity, examples, dGrad: 0.5 + step / 1000, cG: 1 / step }) as GradientInterferenceRow
  );
}

/** The cells of the row whose label is `label`. */
function row(table: { rows: string[][] }, label: string): string[] {
  const found = table.rows.find((cells) => cells[0] === label);
  assert(found !== undefined, `no row "${label}" (rows: ${table.rows.map((cells) => cells[0]).join(" | ")})`);
  return found.slice(1);
}

Deno.test("summary: values at the window holding t_d and at the last one, none at an unidentified break", () => {
  const overviews = runOverviews({
    runs: ["a", "b"],
    fits: [fit("a", true, 40), fit("b", false, 19)],
    dt2t: [...windows("a"), ...windows("b")],
    gradients: [
      ...gradients("a", "sequence", 16),
      ...gradients("a", "token", 400),
      ...gradients("b", "token", 400),
    ],
    verdicts: null,
    warmups: new Map([["a", 30], ["b", 30]]),
  });
  const table = overviewTable(overviews);
  assertEquals(table.headers, ["", "a", "b"]);
  assertEquals(row(table, "t_d, steps (±1σ)"), ["40 (36–44)", "not identified ⚠ (best fit 19)"]);
  assertEquals(row(table, "L_d, nats"), ["2.886 ± 0.011", "2.886 ± 0.011"]);
  assertEquals(row(table, "r_d"), ["0.1277 ± 0.0014", "0.1277 ± 0.0014"]);
  assertEquals(row(table, "LR warmup, steps"), ["30", "30"]);
  assertEquals(row(table, "warmup control: none in this sweep"), ["—", "—"]);
  // t_d = 40 lies in 32 → 64; the last window is 64 → 128.
  assertEquals(row(table, "break window t → 2t (Δ_t^{2t})"), ["32 → 64", "no break identified"]);
  assertEquals(row(table, "D at the break"), ["0.3200", "—"]);
  assertEquals(row(table, "M at the break, nats"), ["0.03125", "—"]);
  assertEquals(row(table, "last window t → 2t"), ["64 → 128", "64 → 128"]);
  assertEquals(row(table, "D at the last window"), ["0.6400", "0.6400"]);
  // Token examples are preferred; the checkpoint is the last one ≤ t_d (16 of 4, 16, 64).
  assertEquals(row(table, "gradients at checkpoint t ≤ t_d"), ["16 (N = 400 tokens)", "no break identified"]);
  assertEquals(row(table, "D(∇ℓ) (noise gives 1 − 1/√N)"), ["0.5160 (noise 0.9500)", "—"]);
  assertEquals(row(table, "C_g"), ["0.06250", "—"]);
  assert(table.rowHeaders === true, "the first column names the rows");
  assert(textTableHtml(table).includes('<th scope="row">C_g</th>'), "row headers in HTML");
});

Deno.test("summary: sweeps without an analysis leave its rows out; the noise level of D is 1 − 1/√N", () => {
  const table = overviewTable(runOverviews({
    runs: ["a"],
    fits: [fit("a", true, 40)],
    dt2t: null,
    gradients: null,
    verdicts: null,
    warmups: new Map(),
  }));
  assertEquals(table.rows.map((cells) => cells[0]), [
    "t_d, steps (±1σ)",
    "LR warmup, steps",
    "warmup control: none in this sweep",
    "L_d, nats",
    "r_d",
  ]);
  assertEquals(row(table, "LR warmup, steps"), ["—"]);
  assertEquals(interferenceNull(252).toFixed(3), "0.937", "docs/method.md's 0.937 at N = 252");
  assertEquals(interferenceNull(16_368).toFixed(3), "0.992");
  assert(Number.isNaN(interferenceNull(0)));
});

Deno.test("summary: the warmup control's verdicts, read through the results layer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-verdicts-" });
  try {
    assertEquals(await readWarmupVerdicts(dir), null, "no table: no warmup control");
    const control = (run: string, warmup: number, tD: number): WarmupControlRow => ({
      group: "a",
      run,
      warmup,
      breakFound: true,
      identified: true,
      atWarmupEnd: false,
      tD,
      tDMin: tD * 0.9,
      tDMax: tD * 1.1,
      tDOverWarmup: warmup > 0 ? tD / warmup : NaN,
      tDLrArea: NaN,
      identifiedLrArea: false,
      reasons: "",
    });
    const verdict: WarmupVerdictRow = {
      group: "a",
      runs: 2,
      warmups: "0, 64",
      breaks: 2,
      slope: 0.93,
      slopeErr: 0.12,
      intercept: 1,
      chi2PerDof: 1,
      tDChange: 3,
      verdict: "follows the warmup",
      why: "slope 0.93 ± 0.12",
    };
    await writeTable(dir, WARMUP_CONTROL_TABLE, [control("a_w0", 0, 20), control("a_w64", 64, 80)]);
    await writeTable(dir, WARMUP_VERDICT_TABLE, [verdict]);
    const verdicts = (await readWarmupVerdicts(dir))!;
    assertEquals([...verdicts.keys()], ["a_w0", "a_w64"]);
    assertEquals(verdicts.get("a_w64")!.warmup, 64);
    const table = overviewTable(runOverviews({
      runs: ["a_w0", "a_w64", "b"],
      fits: [fit("a_w0", true, 20), fit("a_w64", true, 80), fit("b", true, 40)],
      dt2t: null,
      gradients: null,
      verdicts,
      warmups: new Map([["a_w0", 0], ["a_w64", 64], ["b", 30]]),
    }));
    assertEquals(row(table, "warmup control"), [
      "follows the warmup (slope 0.93 ± 0.12)",
      "follows the warmup (slope 0.93 ± 0.12)",
      "not compared",
    ]);
    await writeTable(dir, WARMUP_VERDICT_TABLE, [{ ...verdict, verdict: "maybe" as never }]);
    await assertRejects(() => readWarmupVerdicts(dir), Error, 'the verdict "maybe", which is not one of');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
