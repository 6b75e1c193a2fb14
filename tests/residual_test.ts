import { assertClose } from "./asserts.ts";
import { createBuffer, grid, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

Deno.test({
  name: "residual: forward h = x + y and backward d_skip += d_branch, odd sizes",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(1);
    for (const n of [1, 255, 257, 70001]) {
      const x = randomInputs(random, n);
      const y = randomInputs(random, n);
      const bx = uploadBuffer(gpu, x.f32, "x");
      const by = uploadBuffer(gpu, y.f32, "y");
      const bh = createBuffer(gpu, n * 4, "h");
      const forward = await kernels.pipeline("residual", "residual_forward", { N: n });
      const backward = await kernels.pipeline("residual", "residual_backward", { N: n });
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      kernels.dispatch(pass, forward, [bx, by, bh], grid(n, 256));
      kernels.dispatch(pass, backward, [bx, by], grid(n, 256)); // y += x
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const h = await readFloats(gpu, bh);
      const yAfter = await readFloats(gpu, by);
      const expected = x.f64.map((v, i) => v + y.f64[i]);
      assertClose(h, expected, 1e-7, `forward n=${n}`);
      assertClose(yAfter, expected, 1e-7, `backward n=${n}`);
    }
  },
});
