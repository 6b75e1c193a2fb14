/**
 * The warmup study's table (docs/warmup-study.md): one row per run directory, from its loss curve (the
 * BNSL fit of docs/method.md#loss-deceleration at a fixed min-step, at twice it and at the default min-step) and its
 * Δ_t^{2t} loss interference (D in the last power-of-two window that ends before the break and in the
 * first that starts after it).
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env --allow-ffi docs/study/table.ts \
 *   --min-step 3 --out docs/study/explore sweeps/study/RUN_ID …
 * ```
 *
 * Where a run's Δ_t^{2t} table is: `RUN/zsl/interference_dt_2t.arrow` (`deno task zsl RUN --no-one-step
 * --out RUN/zsl`) or, for a sweep's run, `SWEEP/results/interference_dt_2t.arrow`. Its cost: a sweep's
 * `RUN/sweep_sessions.json` (wall seconds, setup and compilation included) and `sweeps/logs/<sweep>.time`,
 * or `RUN/../logs/<id>.time` (`/usr/bin/time -f "%e %U %S"` of `deno task train`: wall, user, system
 * seconds); the load average around it from the `index.txt` beside that file.
 */
import { fitDeceleration, readArrow } from "../../mod.ts";
import { numberOption, parseArgs, runMain, UsageError } from "../../src/cli/args.ts";
import { writeFileAtomic } from "../../src/io/atomic.ts";

/** The columns of the table, in order. */
const COLUMNS = [
  "run",
  "model",
  "d",
  "L",
  "params",
  "tokenizer",
  "batch",
  "seq",
  "tokens_per_step",
  "steps",
  "tokens",
  "peak_lr",
  "warmup",
  "seed",
  "min_step",
  "identified",
  "t_d",
  "t_d_lo",
  "t_d_hi",
  "t_d_over_warmup",
  "t_d_min_step_x2",
  "t_d_default_min_step",
  "identified_default_min_step",
  "L_d",
  "L_d_err",
  "r_d",
  "r_d_err",
  "f1",
  "D_before",
  "D_after",
  "D_rise",
  "final_loss",
  "wall_s",
  "cpu_s",
  "load",
  "why_not_identified",
] as const;

type Row = Record<(typeof COLUMNS)[number], string>;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "";
}

/** D of the last window [t, 2t) with 2t ≤ t_d and of the first with t ≥ t_d. */
async function dAcross(runDir: string, name: string, tD: number): Promise<[number, number]> {
  for (
    const file of [
      `${runDir}/zsl/interference_dt_2t.arrow`,
      `${runDir}/../../results/interference_dt_2t.arrow`,
    ]
  ) {
    if (!(await exists(file))) continue;
    const { columns } = await readArrow(file);
    const model = columns.model as ArrayLike<string>;
    const t = columns.t as ArrayLike<number>;
    const t2 = columns.t2 as ArrayLike<number>;
    const d = columns.D as ArrayLike<number>;
    let before = NaN;
    let after = NaN;
    for (let i = 0; i < t.length; i++) {
      if (model[i] !== name) continue;
      if (t2[i] <= tD) before = d[i];
      if (t[i] >= tD && Number.isNaN(after)) after = d[i];
    }
    return [before, after];
  }
  return [NaN, NaN];
}

/** The load average before..after a logged command, from the `index.txt` beside its time file. */
async function loadOf(indexFile: string, id: string): Promise<string> {
  if (!(await exists(indexFile))) return "";
  const line = (await Deno.readTextFile(indexFile)).split("\n").filter((l) => l.startsWith(`${id} rc=0`)).at(
    -1,
  );
  return line?.match(/load=(\S+)/)?.[1] ?? "";
}

/** Wall and CPU seconds of a run (and the load average around them), from what the study logged. */
async function cost(runDir: string, id: string, loopSeconds: number) {
  const sessions = `${runDir}/sweep_sessions.json`;
  if (await exists(sessions)) {
    const list =
      (JSON.parse(await Deno.readTextFile(sessions)) as { sessions: { seconds: number }[] }).sessions;
    // RUN = SWEEPS/<sweep>/runs/<id>: the sweep's load is logged in SWEEPS/logs/index.txt.
    const parts = runDir.replace(/\/$/, "").split("/");
    const sweepsRoot = parts.slice(0, -3).join("/") || ".";
    return {
      wall: list.reduce((sum, session) => sum + session.seconds, 0),
      cpu: NaN,
      load: await loadOf(`${sweepsRoot}/logs/index.txt`, parts.at(-3) ?? ""),
    };
  }
  const time = `${runDir}/../logs/${id}.time`;
  if (await exists(time)) {
    const [wall, user, system] = (await Deno.readTextFile(time)).trim().split("\n").at(-1)!.split(" ").map(
      Number,
    );
    return { wall, cpu: user + system, load: await loadOf(`${runDir}/../logs/index.txt`, id) };
  }
  return { wall: loopSeconds, cpu: NaN, load: "" };
}

async function row(runDir: string, minStep: number): Promise<Row> {
  const parts = runDir.replace(/\/$/, "").split("/");
  const id = parts.at(-1)!;
  // A sweep's run (SWEEP/runs/ID) is named SWEEP/ID: ids repeat across sweeps.
  const label = parts.at(-2) === "runs" && parts.length >= 3 ? `${parts.at(-3)}/${id}` : id;
  const info = JSON.parse(await Deno.readTextFile(`${runDir}/run.json`));
  const spec = info.spec;
  const { columns } = await readArrow(`${runDir}/metrics.arrow`);
  const steps = Array.from(columns.step as ArrayLike<number>);
  const losses = Array.from(columns.train_loss as ArrayLike<number>);
  const wall = columns.wall_seconds as ArrayLike<number>;
  const fit = fitDeceleration(steps, losses, { minStep, label: id });
  const doubled = fitDeceleration(steps, losses, { minStep: 2 * minStep, label: id });
  const byDefault = fitDeceleration(steps, losses, { label: id });
  const [dBefore, dAfter] = fit.identified ? await dAcross(runDir, info.name, fit.tD) : [NaN, NaN];
  const spent = await cost(runDir, id, wall[wall.length - 1]);
  const batch = spec.batch ?? 16;
  const seq = spec.config.seq_len;
  const warmup = info.schedule?.warmup ?? spec.warmup;
  return {
    run: label,
    model: info.preset ?? "config",
    d: String(spec.config.d_model),
    L: String(spec.config.n_layers),
    params: String(info.nonEmbeddingParams ?? ""),
    tokenizer: spec.tokenizer,
    batch: String(batch),
    seq: String(seq),
    tokens_per_step: String(batch * seq),
    steps: String(steps.length),
    tokens: String(steps.length * batch * seq),
    peak_lr: Number(info.schedule?.peakLr).toExponential(3),
    warmup: String(warmup),
    seed: String(spec.seed ?? 0),
    min_step: String(fit.minStep),
    identified: fit.identified ? "yes" : "no",
    t_d: fixed(fit.tD, 1),
    t_d_lo: fixed(fit.tDRange[0], 1),
    t_d_hi: fixed(fit.tDRange[1], 1),
    t_d_over_warmup: warmup > 0 ? fixed(fit.tD / warmup, 2) : "",
    t_d_min_step_x2: `${fixed(doubled.tD, 1)}${doubled.identified ? "" : " (not identified)"}`,
    t_d_default_min_step: fixed(byDefault.tD, 1),
    identified_default_min_step: `${byDefault.identified ? "yes" : "no"} (min-step ${byDefault.minStep})`,
    L_d: fixed(fit.lossD, 3),
    L_d_err: fixed(fit.errors.lossD, 3),
    r_d: fixed(fit.rateD, 3),
    r_d_err: fixed(fit.errors.rateD, 3),
    f1: fixed(fit.f1, 2),
    D_before: fixed(dBefore, 3),
    D_after: fixed(dAfter, 3),
    D_rise: fixed(dAfter - dBefore, 3),
    final_loss: fixed(losses[losses.length - 1], 3),
    wall_s: fixed(spent.wall, 0),
    cpu_s: fixed(spent.cpu, 0),
    load: spent.load,
    why_not_identified: fit.reasons.join("; "),
  };
}

await runMain(async () => {
  const { values, positionals } = parseArgs(
    Deno.args,
    "docs/study/table.ts RUN_DIR…",
    "The warmup study's table: BNSL fit, D across the break and cost of each run, as CSV and Markdown.",
    {
      "min-step": {
        type: "string",
        description: "fit steps > this (also refitted at twice it)",
        default: "3",
      },
      out: { type: "string", description: "write OUT.csv and OUT.md (default: CSV to stdout)" },
    },
    true,
  );
  if (positionals.length === 0) throw new UsageError("give at least one run directory");
  const minStep = numberOption(values, "min-step")!;
  const rows: Row[] = [];
  for (const runDir of positionals) rows.push(await row(runDir, minStep));
  const csvCell = (text: string) => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const csv = [COLUMNS.join(","), ...rows.map((r) => COLUMNS.map((c) => csvCell(r[c])).join(","))].join("\n");
  const markdown = [
    `| ${COLUMNS.join(" | ")} |`,
    `| ${COLUMNS.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${COLUMNS.map((c) => r[c].replaceAll("|", "\\|")).join(" | ")} |`),
  ].join("\n");
  if (typeof values.out !== "string") {
    console.log(csv);
    return;
  }
  await writeFileAtomic(`${values.out}.csv`, `${csv}\n`);
  await writeFileAtomic(`${values.out}.md`, `${markdown}\n`);
  console.log(`wrote ${values.out}.csv and ${values.out}.md (${rows.length} runs)`);
});
