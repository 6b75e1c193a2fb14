import { assert, assertEquals, assertRejects } from "./asserts.ts";
import { startSlurmCluster } from "./slurm_cluster.ts";
import { taskPermissions } from "./helpers.ts";
import { validateSweep } from "../src/sweep/definition.ts";
import type { SlurmSubmission } from "../src/sweep/slurm.ts";
import { planSlurmSweep, sbatchCommands } from "../src/sweep/slurm.ts";

const SWEEP_SCRIPT = new URL("../scripts/sweep.ts", import.meta.url).pathname;
/** What `deno task sweep` runs with (deno.json): SLURM's commands are the only programs it may run. */
const PERMISSIONS = taskPermissions("sweep");

/** Two tiny runs, few steps, every analysis on but small. */
const TINY_SWEEP = {
  name: "slurm-test",
  models: ["tiny"],
  seeds: [0, 1],
  batches: [4],
  common: { steps: 16, warmup: 2, evalSequences: 4 },
  analyses: {
    deceleration: true,
    interferenceCheckpoints: true,
    interferenceOneStep: true,
    oneStepBatches: 1,
  },
};

/** `deno task sweep` with `args`, killed after `seconds` so that a stuck --wait cannot hang the suite. */
async function sweepCli(args: string[], env: Record<string, string> = {}, seconds = 240) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, SWEEP_SCRIPT, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(seconds * 1000),
  }).output();
  const text = new TextDecoder();
  return { code: result.code, stdout: text.decode(result.stdout), stderr: text.decode(result.stderr) };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("slurm: the dry run writes both scripts for the unfinished runs only and submits nothing", async () => {
  const out = await Deno.makeTempDir({ prefix: "zsl-slurm-dry-" });
  const definitionPath = `${out}/tiny.json`;
  await Deno.writeTextFile(definitionPath, JSON.stringify(TINY_SWEEP));
  // tiny_s0 has its final checkpoint: the array must train tiny_s1 alone.
  await Deno.mkdir(`${out}/sweep/runs/tiny_s0/checkpoints/step-0000016`, { recursive: true });
  const result = await sweepCli([
    ...["--sweep", definitionPath, "--out", `${out}/sweep`, "--executor", "slurm", "--dry-run"],
    ...["--partition", "gpu", "--gpus", "2", "--time", "1:30:00", "--cpus", "4", "--mem", "16G"],
    ...["--account", "proj1", "--sbatch-arg=--qos=high", "--sbatch-arg=--constraint=a100"],
  ], { PATH: "/nonexistent" }); // no sbatch reachable: a dry run must not call it
  assertEquals(result.code, 0, result.stderr);
  const train = await Deno.readTextFile(`${out}/sweep/slurm/train.sbatch`);
  const analyse = await Deno.readTextFile(`${out}/sweep/slurm/analyse.sbatch`);
  assert(result.stdout.includes(train) && result.stdout.includes(analyse), "the scripts are not printed");
  for (
    const line of [
      "#SBATCH --array=0-0",
      `#SBATCH --output=${out}/sweep/slurm/logs/%A_%a.out`,
      "#SBATCH --export=ALL",
      "#SBATCH --partition=gpu",
      "#SBATCH --gres=gpu:2",
      "#SBATCH --time=1:30:00",
      "#SBATCH --cpus-per-task=4",
      "#SBATCH --mem=16G",
      "#SBATCH --account=proj1",
      "#SBATCH --qos=high",
      "#SBATCH --constraint=a100",
      "RUN_IDS=(tiny_s1)",
      'export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/zsl-runtime-$(id -u)"',
      `--sweep ${out}/sweep/sweep.json --out ${out}/sweep --only "$RUN_ID" --train-only`,
    ]
  ) assert(train.includes(line), `train.sbatch lacks ${line}:\n${train}`);
  assert(train.includes(`\n${Deno.execPath()} run `), "the array does not run this deno");
  for (const line of ["#SBATCH --signal=B:TERM@300", "#SBATCH --requeue", "#SBATCH --open-mode=append"]) {
    assert(train.includes(line), `train.sbatch lacks ${line}:\n${train}`);
  }
  assert(train.includes('scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"'), train);
  assert(!/--allow-run|\$DENO_DIR\//.test(train), `the jobs may run programs or trip set -u:\n${train}`);
  assert(!train.includes("tiny_s0"), "the finished run is in the array");
  assert(analyse.includes("#SBATCH --kill-on-invalid-dep=yes"), "a failed array would leave it pending");
  assert(analyse.includes(`--out ${out}/sweep --analyse-only`), `analyse.sbatch:\n${analyse}`);
  assert(!analyse.includes("--array"), "the analysis job is an array");
  assert(
    result.stdout.includes(`--dependency=afterok:\${TRAIN_JOB%%;*} ${out}/sweep/slurm/analyse.sbatch`),
    `no dependent sbatch command in:\n${result.stdout}`,
  );
  assert(!(await exists(`${out}/sweep/slurm/jobs.json`)), "a dry run recorded a submission");
  // Every run finished: no array, the analysis alone.
  await Deno.mkdir(`${out}/sweep/runs/tiny_s1/checkpoints/step-0000016`, { recursive: true });
  const plan = await planSlurmSweep(validateSweep(TINY_SWEEP), `${out}/sweep`);
  assertEquals(plan.pendingRuns, []);
  assertEquals(plan.trainScriptPath, null);
  assertEquals(sbatchCommands(plan), `sbatch --parsable ${out}/sweep/slurm/analyse.sbatch`);
  assert(!(await exists(`${out}/sweep/slurm/train.sbatch`)), "a stale array script was left");
  const definition = validateSweep(TINY_SWEEP);
  await assertRejects(() => planSlurmSweep(definition, out, { gpus: 1.5 }), Error, "--gpus must be");
  await assertRejects(
    () => planSlurmSweep(definition, out, { sbatchArgs: ["qos=high"] }),
    Error,
    "--sbatch-arg=",
  );
  await assertRejects(() => planSlurmSweep(definition, out, { time: "1:00\n#x" }), Error, "single line");
  await assertRejects(() => planSlurmSweep(definition, out, { only: ["tiny_s9"] }), Error, "tiny_s9");
  await Deno.remove(out, { recursive: true });
});

Deno.test({
  name:
    "slurm: on one node, one run per array task then the analysis; a rerun trains nothing; a failed task cancels it",
  // The SLURM daemons are child processes that live across the test's awaits.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await startSlurmCluster();
    const out = await Deno.makeTempDir({ prefix: "zsl-slurm-sweep-" });
    try {
      const definitionPath = `${out}/tiny.json`;
      await Deno.writeTextFile(definitionPath, JSON.stringify(TINY_SWEEP));
      const args = ["--sweep", definitionPath, "--out", `${out}/sweep`, "--executor", "slurm", "--wait"];
      const first = await sweepCli(args, cluster.env);
      assertEquals(first.code, 0, `sweep on SLURM failed:\n${first.stderr}`);
      const submission = JSON.parse(
        await Deno.readTextFile(`${out}/sweep/slurm/jobs.json`),
      ) as SlurmSubmission;
      assert(submission.trainJobId !== null, "no training array was submitted");
      assertEquals(submission.pendingRuns, ["tiny_s0", "tiny_s1"]);
      assert(
        first.stderr.includes(
          `training ${submission.trainJobId}: COMPLETED, analysis ${submission.analyseJobId}: COMPLETED`,
        ),
        `the jobs did not both complete:\n${first.stderr}`,
      );
      for (const [task, id] of submission.pendingRuns.entries()) {
        const log = await Deno.readTextFile(`${out}/sweep/slurm/logs/${submission.trainJobId}_${task}.out`);
        assert(log.includes(`trains run ${id}`) && log.includes("step 16/16"), `task ${task}'s log:\n${log}`);
        assert(await exists(`${out}/sweep/runs/${id}/checkpoints/step-0000016/model.safetensors`), `${id}`);
      }
      assert(
        await exists(`${out}/sweep/slurm/logs/${submission.analyseJobId}_analyse.out`),
        "no analysis log",
      );
      for (const file of ["deceleration.arrow", "interference_dt_2t.arrow", "interference_dt_1.arrow"]) {
        assert(await exists(`${out}/sweep/results/${file}`), `no results/${file}`);
      }
      const again = await sweepCli(args, cluster.env);
      assertEquals(again.code, 0, `rerun failed:\n${again.stderr}`);
      const rerun = JSON.parse(await Deno.readTextFile(`${out}/sweep/slurm/jobs.json`)) as SlurmSubmission;
      assertEquals(rerun.trainJobId, null);
      assertEquals(rerun.pendingRuns, []);
      assert(again.stderr.includes("2 finished (skipped)"), again.stderr);
      assert(again.stderr.includes(`analysis ${rerun.analyseJobId}: COMPLETED`), again.stderr);
      // An unknown preset is refused before anything is submitted.
      await Deno.writeTextFile(definitionPath, JSON.stringify({ ...TINY_SWEEP, models: ["no-such-preset"] }));
      const refused = await sweepCli([
        "--sweep",
        definitionPath,
        "--out",
        `${out}/refused`,
        "--executor",
        "slurm",
      ]);
      assertEquals(refused.code, 2, refused.stderr);
      assert(refused.stderr.includes('models[0] is "no-such-preset"'), refused.stderr);
      // A task that fails (its corpus is missing) cancels the analysis, and --wait says so and exits non-zero.
      const missing = `${out}/no-such-corpus.txt`;
      await Deno.writeTextFile(
        definitionPath,
        JSON.stringify({ ...TINY_SWEEP, common: { ...TINY_SWEEP.common, data: missing } }),
      );
      const failing = await sweepCli([
        "--sweep",
        definitionPath,
        "--out",
        `${out}/bad`,
        "--executor",
        "slurm",
        "--wait",
      ], cluster.env);
      assertEquals(failing.code, 1, failing.stderr);
      const bad = JSON.parse(await Deno.readTextFile(`${out}/bad/slurm/jobs.json`)) as SlurmSubmission;
      assert(
        failing.stderr.includes(
          `training ${bad.trainJobId}: FAILED, analysis ${bad.analyseJobId}: CANCELLED`,
        ),
        failing.stderr,
      );
      const log = await Deno.readTextFile(`${out}/bad/slurm/logs/${bad.trainJobId}_0.out`);
      assert(
        log.includes(`corpus ${missing} not found`),
        `the task's log does not name the missing corpus:\n${log}`,
      );
    } finally {
      await cluster.stop();
      await Deno.remove(out, { recursive: true });
    }
  },
});
