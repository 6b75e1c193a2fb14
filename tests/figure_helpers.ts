/**
 * Reading Vega-Lite specs in the figure tests: their layers, the line they draw, the deceleration band.
 *
 * @module
 */

/** A spec or a part of one: plain JSON. */
export type Spec = Record<string, unknown>;

/** Every layer of `spec`, nested layers flattened, in drawing order. */
export function layers(spec: Spec): Spec[] {
  const own = (spec.layer as Spec[] | undefined) ?? [];
  return own.flatMap((layer) => (layer.layer ? [layer, ...layers(layer)] : [layer]));
}

/** The panels of a figure (`hconcat`, `vconcat` of `hconcat`s), or the figure itself. */
export function panels(spec: Spec): Spec[] {
  if (spec.hconcat) return spec.hconcat as Spec[];
  if (spec.vconcat) return (spec.vconcat as Spec[]).flatMap(panels);
  return [spec];
}

/** The first layer drawing a line (the quantity of a panel). */
export function lineLayer(spec: Spec): Spec {
  const line = layers(spec).find((layer) => (layer.mark as Spec | undefined)?.type === "line");
  if (!line) throw new Error(`no line layer in ${JSON.stringify(spec).slice(0, 200)}`);
  return line;
}

/** The y field of a panel's line. */
export function yField(panel: Spec): string {
  return (lineLayer(panel).encoding as Record<string, Spec>).y.field as string;
}

/** The values the layer draws (its own data). */
export function values<T = Record<string, unknown>>(layer: Spec): T[] {
  return ((layer.data as { values?: T[] } | undefined)?.values) ?? [];
}

/** The [from, to] of the shaded deceleration band of a panel or figure (null when it has none). */
export function bandExtent(spec: Spec): [number, number] | null {
  for (const layer of layers(spec)) {
    const [band] = values<{ from?: number; to?: number; label?: string }>(layer);
    if (band?.label === "Decel." && band.from !== undefined && band.to !== undefined) {
      return [band.from, band.to];
    }
  }
  return null;
}
