/**
 * Fonts for rasterising charts. resvg draws text only with fonts it is given, so a machine without
 * fonts would get PNGs without labels. The system's DejaVu Sans (the paper's matplotlib font) is
 * used when installed; otherwise Roboto, shipped inside the npm package `roboto-base64`, is written
 * to a temporary file once per process. Only these files are loaded (not every system font), so a
 * chart renders the same on every machine that has the same font.
 *
 * @module
 */

/** The font families charts ask for, in order of preference (the CSS `font-family` of the SVG). */
export const CHART_FONT = "DejaVu Sans, Roboto, sans-serif";

/** Where Linux distributions and macOS package managers put DejaVu Sans. */
const DEJAVU_DIRECTORIES = [
  "/usr/share/fonts/truetype/dejavu",
  "/usr/share/fonts/dejavu",
  "/usr/share/fonts/TTF",
  "/usr/share/fonts/dejavu-sans-fonts",
  "/usr/local/share/fonts",
  "/opt/homebrew/share/fonts",
  "/Library/Fonts",
];

/** The font files to load and the family that `sans-serif` maps to. */
export interface ChartFonts {
  /** The family name resvg uses for `sans-serif` and as default: `"DejaVu Sans"` or `"Roboto"`. */
  family: string;
  /** Paths of the font files (regular, and bold where found) that resvg loads. */
  files: string[];
  /** "system" (DejaVu Sans found) or "bundled" (Roboto from npm). */
  origin: "system" | "bundled";
}

let cached: Promise<ChartFonts> | null = null;
let bundled: Promise<string[]> | null = null;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false; // absent, or not readable under the granted permissions
  }
}

async function findDejaVu(): Promise<string[]> {
  for (const directory of DEJAVU_DIRECTORIES) {
    const regular = `${directory}/DejaVuSans.ttf`;
    if (await isFile(regular)) {
      const bold = `${directory}/DejaVuSans-Bold.ttf`;
      return (await isFile(bold)) ? [regular, bold] : [regular];
    }
  }
  return [];
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/^data:[^,]*,/, ""));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function writeBundledRoboto(): Promise<string[]> {
  const module = await import("npm:roboto-base64@0.1.2");
  const fonts = (module.default ?? module) as Record<string, string>;
  const directory = await Deno.makeTempDir({ prefix: "zsl-fonts-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(directory, { recursive: true });
    } catch {
      // already gone
    }
  });
  const files: string[] = [];
  for (const [style, file] of [["normal", "Roboto-Regular.ttf"], ["bold", "Roboto-Bold.ttf"]]) {
    const path = `${directory}/${file}`;
    await Deno.writeFile(path, decodeBase64(fonts[style]));
    files.push(path);
  }
  return files;
}

/**
 * The fonts for rasterising: the system's DejaVu Sans when found, else the bundled Roboto.
 * `preferBundled` forces Roboto (same pixels on every machine).
 */
export function chartFonts(preferBundled = false): Promise<ChartFonts> {
  const roboto = async (): Promise<ChartFonts> => {
    bundled ??= writeBundledRoboto().catch((error) => {
      bundled = null;
      throw error;
    });
    return { family: "Roboto", files: await bundled, origin: "bundled" };
  };
  if (preferBundled) return roboto();
  cached ??= (async (): Promise<ChartFonts> => {
    const dejavu = await findDejaVu();
    return dejavu.length > 0 ? { family: "DejaVu Sans", files: dejavu, origin: "system" } : await roboto();
  })();
  return cached;
}
