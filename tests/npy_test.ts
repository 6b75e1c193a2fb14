import { encodeNpy, parseNpy, readNpy, writeNpy } from "../src/io/npy.ts";
import type { NpyData } from "../src/io/npy.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./asserts.ts";

const FIXTURES = new URL("./fixtures/data/", import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;
const TOKENS = [464, 3290, 50256, 0, 15496, 995, 50256, 7];

Deno.test("npy: round trip of every dtype, 1-D and 2-D", async () => {
  const directory = await Deno.makeTempDir({ prefix: "zsl-npy-" });
  try {
    const arrays: [string, NpyData][] = [
      ["uint8", new Uint8Array([0, 1, 255, 7, 8, 9])],
      ["int8", new Int8Array([-128, -1, 0, 1, 127, 5])],
      ["uint16", new Uint16Array([0, 1, 65535, 50256, 3, 4])],
      ["int16", new Int16Array([-32768, -1, 0, 1, 32767, 2])],
      ["uint32", new Uint32Array([0, 1, 4294967295, 50256, 3, 4])],
      ["int32", new Int32Array([-2147483648, -1, 0, 1, 2147483647, 6])],
      ["int64", new BigInt64Array([-(2n ** 63n), -1n, 0n, 1n, 2n ** 63n - 1n, 50256n])],
      ["uint64", new BigUint64Array([0n, 1n, 2n ** 64n - 1n, 3n, 4n, 5n])],
      ["float32", new Float32Array([0, -1.5, 3.25, Infinity, -0, 1e-30])],
      ["float64", new Float64Array([0, -1.5, Math.PI, -Infinity, 1e300, Number.MIN_VALUE])],
    ];
    for (const [dtype, data] of arrays) {
      for (const shape of [[6], [2, 3], [3, 2]]) {
        const path = `${directory}/${dtype}_${shape.join("x")}.npy`;
        await writeNpy(path, data, shape);
        const back = await readNpy(path);
        assertEquals(back.dtype, dtype);
        assertEquals(back.shape, shape);
        assertEquals(back.data, data);
        // The data starts at a multiple of 64 bytes, as numpy writes it.
        const bytes = await Deno.readFile(path);
        assertEquals((bytes.length - data.byteLength) % 64, 0);
      }
    }
    // Empty arrays and views into a larger buffer.
    await writeNpy(`${directory}/empty.npy`, new Float32Array(0));
    assertEquals((await readNpy(`${directory}/empty.npy`)).shape, [0]);
    const view = new Uint16Array([1, 2, 3, 4, 5]).subarray(1, 4);
    assertEquals(parseNpy(encodeNpy(view)).data, new Uint16Array([2, 3, 4]));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("npy: reads numpy's own files and writes the same bytes numpy does", async () => {
  for (const dtype of ["uint16", "uint32", "int32"] as const) {
    const array = await readNpy(fixture(`tokens_${dtype}.npy`));
    assertEquals(array.dtype, dtype);
    assertEquals(array.shape, [TOKENS.length]);
    assertEquals(Array.from(array.data as ArrayLike<number>), TOKENS);
  }
  const int64 = await readNpy(fixture("tokens_int64.npy"));
  assertEquals(Array.from(int64.data as BigInt64Array, Number), TOKENS);
  const v2 = await readNpy(fixture("tokens_v2_uint16.npy"));
  assertEquals(Array.from(v2.data as Uint16Array), TOKENS);
  const matrix = await readNpy(fixture("matrix_float32.npy"));
  assertEquals(matrix.shape, [2, 3]);
  assertEquals(matrix.data, new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]));

  const numpyBytes = await Deno.readFile(fixture("tokens_uint16.npy"));
  assertEquals(encodeNpy(new Uint16Array(TOKENS)), numpyBytes);
  const numpyMatrix = await Deno.readFile(fixture("matrix_float32.npy"));
  assertEquals(encodeNpy(new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]), [2, 3]), numpyMatrix);
});

Deno.test("npy: errors name the file and what is expected", async () => {
  await assertRejects(() => readNpy(fixture("fortran_float64.npy")), Error, "Fortran");
  await assertRejects(() => readNpy(fixture("fortran_float64.npy")), Error, "fortran_float64.npy");
  await assertRejects(() => readNpy(fixture("big_endian_uint16.npy")), Error, "big-endian");
  await assertRejects(() => readNpy(fixture("float16.npy")), Error, "dtype '<f2'");
  await assertRejects(
    () => readNpy(fixture("cube_uint8.npy")),
    Error,
    "shape (2, 2, 2); expected 1-D or 2-D",
  );
  await assertRejects(
    () => readNpy(fixture("matrix_float32.npy"), { ndim: 1 }),
    Error,
    "expected a 1-D array",
  );
  await assertRejects(
    () => readNpy(fixture("matrix_float32.npy"), { dtypes: ["uint16", "uint32"] }),
    Error,
    "dtype float32 ('<f4'); expected one of uint16, uint32",
  );
  const truncated = await assertRejects(() => readNpy(fixture("truncated_uint16.npy")), Error, "truncated");
  assert(truncated.message.includes("needs 16 bytes of data but only 13"), truncated.message);
  await assertRejects(() => readNpy(fixture("raw_uint16.bin")), Error, "is not a .npy file");
  await assertRejects(() => readNpy(fixture("no_such_file.npy")), Error, "cannot read");

  const good = encodeNpy(new Uint16Array([1, 2, 3]));
  const extra = new Uint8Array(good.length + 2);
  extra.set(good);
  assertThrows(() => parseNpy(extra, "extra.npy"), Error, "extra.npy has 2 unexpected bytes");
  assertThrows(() => parseNpy(good.subarray(0, 9), "tiny.npy"), Error, "truncated inside the .npy header");
  assertThrows(() => parseNpy(good.subarray(0, 40), "cut.npy"), Error, "cut.npy is truncated");
  const version9 = good.slice();
  version9[6] = 9;
  assertThrows(() => parseNpy(version9, "v9.npy"), Error, "format version 9.0");

  assertThrows(() => encodeNpy(new Float32Array(6), [4, 2]), Error, "holds 8 elements but the array has 6");
  assertThrows(() => encodeNpy(new Float32Array(8), [2, 2, 2]), Error, "give [n] or [rows, columns]");
  assertThrows(() => encodeNpy([1, 2] as unknown as Float32Array), Error, "pass a typed array");
});
