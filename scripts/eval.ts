/**
 * `deno task eval --checkpoint M.safetensors --config C.json --data TOKENS.npy --out losses.arrow`:
 * per-token losses of a checkpoint, one row per predicted token (columns seq, pos, loss).
 */
import { parseArgs, rangeOption, runMain, UsageError } from "../src/cli/args.ts";
import { openGpu } from "../src/gpu/device.ts";
import { readConfigFile } from "../src/model/config.ts";
import { flattenTensors, parameterLayout } from "../src/model/parameters.ts";
import { readSafetensors } from "../src/io/safetensors.ts";
import { readNpy } from "../src/io/npy.ts";
import { writeArrow } from "../src/io/arrow.ts";
import { ensureWritableDirectory } from "../src/io/atomic.ts";
import { dirname, resolve } from "../src/util/path.ts";
import { evaluateTokenLosses, toTokenIds } from "../src/model/evaluate.ts";

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task eval",
    "Per-token losses of a checkpoint on a .npy token file, written as an Arrow table (seq, pos, loss).\n" +
      "Sequences are chunked as OLMo does: sequence k = tokens[k·T, (k+1)·T); position s predicts\n" +
      "token s+1.",
    {
      checkpoint: {
        type: "string",
        value: "FILE",
        description: "The model's weights: a .safetensors file with OLMo's tensor names (F32; F16, BF16 " +
          "and F64 are converted).",
      },
      config: {
        type: "string",
        value: "FILE",
        description:
          "The model's config: JSON with d_model, n_layers, n_heads, vocab_size, seq_len, mlp_ratio.",
      },
      data: {
        type: "string",
        value: "FILE",
        description: "The tokens to evaluate on: a 1-D .npy array of uint16, uint32, int32 or int64.",
      },
      out: {
        type: "string",
        value: "FILE",
        description: "The Arrow file to write.",
        default: "losses.arrow",
      },
      batch: {
        type: "string",
        value: "N",
        description:
          "Sequences in each forward pass. By default as many as take about 64 MiB of activations (1 to 64).",
      },
      "max-sequences": {
        type: "string",
        value: "N",
        description: "Evaluate at most this many sequences (the first ones).",
      },
    },
  );
  for (const required of ["checkpoint", "config", "data"]) {
    if (!values[required]) throw new UsageError(`--${required} is required (see --help)`);
  }
  const batch = rangeOption(values, "batch", { min: 1, integer: true });
  const maxSequences = rangeOption(values, "max-sequences", { min: 1, integer: true });
  const out = resolve(values.out as string);
  // Before any work: the table goes to a file, and its directory must take it.
  const outInfo = await Deno.stat(out).catch(() => null);
  if (outInfo?.isDirectory) {
    throw new UsageError(`--out ${out} is a directory: give a file name, e.g. --out ${out}/losses.arrow`);
  }
  await ensureWritableDirectory(dirname(out));
  const config = await readConfigFile(values.config as string);
  const layout = parameterLayout(config);
  const checkpoint = await readSafetensors(values.checkpoint as string);
  const flat = flattenTensors(layout, checkpoint.tensors, values.checkpoint as string);
  const array = await readNpy(values.data as string, {
    ndim: 1,
    dtypes: ["uint16", "uint32", "int32", "int64"],
  });
  const tokens = toTokenIds(
    array.data as ArrayLike<number | bigint>,
    config.vocab_size,
    values.data as string,
  );
  const gpu = await openGpu();
  try {
    console.error(
      `zsl eval: ${gpu.adapter.description || gpu.adapter.device}; ${
        Math.floor(tokens.length / config.seq_len)
      } sequences of ${config.seq_len}`,
    );
    const start = performance.now();
    const result = await evaluateTokenLosses(gpu, config, flat, tokens, {
      batch,
      maxSequences,
      onProgress: (done, total) => {
        const seconds = (performance.now() - start) / 1000;
        const rate = (done * (config.seq_len - 1)) / seconds;
        Deno.stderr.writeSync(
          new TextEncoder().encode(`\r  ${done}/${total} sequences, ${rate.toFixed(0)} tokens/s`),
        );
      },
    });
    Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    await writeArrow(out, { seq: result.seq, pos: result.pos, loss: result.loss });
    let sum = 0;
    for (const loss of result.loss) sum += loss;
    console.error(
      `zsl eval: ${result.loss.length} token losses, mean ${(sum / result.loss.length).toFixed(5)} → ${out}`,
    );
  } finally {
    gpu.destroy();
  }
});
