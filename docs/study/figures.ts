/**
 * The warmup study's figures (docs/warmup-study.md), from its table (`docs/study/explore.csv`, written by
 * `table.ts`), drawn with the toolkit's own plot functions:
 *
 * - `td_vs_warmup`: t_d against the warmup (the warmup-control figure of a sweep), for every run of batch
 *   16 × 64 at the preset's own peak LR and seed 0 whose break is identified;
 * - `ld_vs_size`: L_d against the non-embedding parameters, per warmup, beside the training data's
 *   unigram and bigram entropies H1, H2 (given: `--h1`, `--h2`, nats per token).
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env --allow-ffi docs/study/figures.ts \
 *   --table docs/study/explore.csv --h1 3.108 --h2 2.439 --out docs/study/figures
 * ```
 */
import { renderChart, warmupControlFigureSpec } from "../../src/plot/mod.ts";
import type { VegaLiteSpec, WarmupPoint } from "../../src/plot/mod.ts";
import { numberOption, parseArgs, runMain, UsageError } from "../../src/cli/args.ts";

/** RFC 4180 CSV (quoted cells with doubled quotes) as rows keyed by the header. */
function parseCsv(text: string): Record<string, string>[] {
  const records: string[][] = [];
  let cell = "", record: string[] = [], quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') cell += c, i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") record.push(cell), cell = "";
    else if (c === "\n") record.push(cell), records.push(record), record = [], cell = "";
    else cell += c;
  }
  if (cell !== "" || record.length > 0) record.push(cell), records.push(record);
  const [header, ...rows] = records;
  return rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i] ?? ""])));
}

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "docs/study/figures.ts --table FILE.csv --h1 H1 --h2 H2 --out DIR",
    "The warmup study's figures: t_d against the warmup, L_d against size beside H1 and H2.",
    {
      table: { type: "string", description: "the study's table (CSV from table.ts)" },
      h1: { type: "string", description: "the training data's unigram entropy (nats/token)" },
      h2: { type: "string", description: "its bigram conditional entropy (nats/token)" },
      out: { type: "string", description: "where the figures go" },
    },
  );
  if (typeof values.table !== "string" || typeof values.out !== "string") {
    throw new UsageError("give --table FILE.csv and --out DIR");
  }
  const h1 = numberOption(values, "h1"), h2 = numberOption(values, "h2");
  if (h1 === undefined || h2 === undefined) throw new UsageError("give --h1 and --h2 (nats per token)");
  const rows = parseCsv(await Deno.readTextFile(values.table));
  // The preset's own peak LR (Kaplan's), 16 × 64 tokens a step, seed 0, bytes.
  const kaplan: Record<string, string> = {
    tiny: "1.938e-3",
    "cpu-xs": "1.744e-3",
    "cpu-s": "1.574e-3",
    "cpu-m": "1.454e-3",
    "cpu-l": "1.341e-3",
  };
  const plain = rows.filter((row) =>
    row.batch === "16" && row.seq === "64" && row.seed === "0" && row.tokenizer === "bytes" &&
    row.peak_lr === kaplan[row.model] && row.identified === "yes"
  );
  const points: WarmupPoint[] = plain.map((row) => {
    const warmup = Number(row.warmup), tD = Number(row.t_d);
    return {
      model: row.model,
      warmup,
      tD,
      tDMin: Number(row.t_d_lo),
      tDMax: Number(row.t_d_hi),
      status: warmup > 0 && tD >= warmup / 2 && tD <= 2 * warmup ? "at the warmup end" : "identified",
    };
  });
  await Deno.mkdir(values.out, { recursive: true });
  const written = [
    await renderChart(
      warmupControlFigureSpec(points, {
        title: "t_d against the warmup (batch 16 × 64, Kaplan's LR, seed 0)",
      }),
      `${values.out}/td_vs_warmup`,
    ),
  ];
  // One point per run of 512 steps; colour the warmup.
  const sized = plain.filter((row) => row.steps === "512").map((row) => ({
    model: row.model,
    params: Number(row.params),
    warmup: `W = ${row.warmup}`,
    lossD: Number(row.L_d),
    lo: Number(row.L_d) - Number(row.L_d_err),
    hi: Number(row.L_d) + Number(row.L_d_err),
  }));
  const yScale = { domain: [Math.min(h2, ...sized.map((p) => p.lo)) - 0.1, h1 + 0.1], zero: false };
  const x = {
    field: "params",
    type: "quantitative" as const,
    title: "non-embedding parameters",
    scale: { type: "log" as const },
    axis: { format: "~s" },
  };
  const spec: VegaLiteSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `L_d against size, with the data's H1 = ${h1} and H2 = ${h2} nats/token (Brown, bytes)`,
    width: 420,
    height: 300,
    layer: [
      {
        data: { values: [{ y: h1, label: "H1 (unigram)" }, { y: h2, label: "H2 (bigram)" }] },
        layer: [
          {
            mark: { type: "rule", strokeDash: [4, 3], color: "gray" },
            encoding: { y: { field: "y", type: "quantitative" } },
          },
          {
            mark: { type: "text", align: "left", dx: 4, dy: -6, color: "gray" },
            encoding: { y: { field: "y", type: "quantitative" }, x: { value: 0 }, text: { field: "label" } },
          },
        ],
      },
      {
        data: { values: sized },
        layer: [
          {
            mark: "rule",
            encoding: {
              x,
              y: { field: "lo", type: "quantitative" },
              y2: { field: "hi" },
              color: { field: "warmup" },
            },
          },
          {
            mark: { type: "point", filled: true, size: 60 },
            encoding: {
              x,
              y: {
                field: "lossD",
                type: "quantitative",
                title: "L_d (nats/token)",
                scale: yScale,
              },
              color: { field: "warmup", type: "nominal", title: "warmup" },
              tooltip: [{ field: "model" }, { field: "lossD" }],
            },
          },
        ],
      },
    ],
  };
  written.push(await renderChart(spec, `${values.out}/ld_vs_size`));
  console.log(`wrote ${written.map((files) => files.svg).join(", ")} (+ .png, .vl.json)`);
});
